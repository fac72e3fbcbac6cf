"""Model performance: labels joined to predictions, realized metrics when labels arrive, estimated metrics before
they do (confidence-based, for classifiers), and the reconciliation of the two."""

from __future__ import annotations

from modelpilot.monitoring.performance.calibration import Calibrator
from modelpilot.monitoring.performance.delay import LabelDelay
from modelpilot.monitoring.performance.estimated import (
    EstimateAccumulator,
    PerformanceEstimator,
    reconcile,
    reference_metrics,
)
from modelpilot.monitoring.performance.joins import Joined
from modelpilot.monitoring.performance.labels import LabelJoiner
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
