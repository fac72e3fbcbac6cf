"""Pins the performance package's exported names: changing them must be a deliberate edit of this file."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

EXPECTED = {
    "modelpilot.monitoring.performance": [
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
    ],
    "modelpilot.monitoring.performance.counters": ["Stat"],
    "modelpilot.monitoring.performance.delay": ["DELAY_BUCKETS_S", "LabelDelay"],
    "modelpilot.monitoring.performance.joins": [
        "INVALID_REASONS",
        "LABEL_FIELDS",
        "PENDING_FIELDS",
        "Joined",
        "Pending",
        "PendingLabel",
        "jsonable",
        "label_from",
        "label_json",
        "label_rows",
        "pending_from",
        "pending_json",
    ],
    "modelpilot.monitoring.performance.journal": ["KINDS", "SEGMENT", "Changes", "Journal", "changes", "unpack"],
    "modelpilot.monitoring.performance.labels": ["DEFAULT_LABEL_TTL_S", "DEFAULT_TTL_S", "LabelJoiner"],
    "modelpilot.monitoring.performance.metric_math": [
        "NeumaierSum",
        "auc_from_histograms",
        "bad",
        "check_proba",
        "class_indices",
        "metrics_from_confusion",
        "plain",
        "predicted_indices",
        "row_vector",
        "sample_sizes",
        "sorted_classes",
    ],
    "modelpilot.monitoring.performance.realized": [
        "LOG_LOSS_EPS",
        "ClassificationAccumulator",
        "RegressionAccumulator",
    ],
    "modelpilot.monitoring.performance.calibration": ["Calibrator", "isotonic_fit"],
    "modelpilot.monitoring.performance.estimated": [
        "PROPORTION_METRICS",
        "EstimateAccumulator",
        "PerformanceEstimator",
        "reconcile",
        "reference_metrics",
    ],
}


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_exported_names_are_pinned(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(EXPECTED[module])
    for name in mod.__all__:
        assert hasattr(mod, name), name


def test_source_never_imports_sklearn() -> None:
    """scikit-learn is an optional dependency: the tests use it as a reference, the source must not."""
    import modelpilot.monitoring.performance as pkg

    for path in Path(pkg.__file__).parent.glob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+sklearn", path.read_text(encoding="utf-8"), re.M), path
