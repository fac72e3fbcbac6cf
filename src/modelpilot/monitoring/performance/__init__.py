"""Model performance: labels joined to predictions, realized metrics when labels arrive, estimated metrics before
they do (confidence-based, for classifiers), and the reconciliation of the two."""

from __future__ import annotations

from modelpilot.monitoring.performance.estimated import (
    Calibrator,
    EstimateAccumulator,
    PerformanceEstimator,
    reconcile,
    reference_metrics,
)
from modelpilot.monitoring.performance.labels import Joined, LabelDelay, LabelJoiner
from modelpilot.monitoring.performance.realized import ClassificationAccumulator, RegressionAccumulator

__all__ = [
    "Calibrator",
    "ClassificationAccumulator",
    "EstimateAccumulator",
    "Joined",
    "LabelDelay",
    "LabelJoiner",
    "PerformanceEstimator",
    "RegressionAccumulator",
    "reconcile",
    "reference_metrics",
]
