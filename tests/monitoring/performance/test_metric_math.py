"""Shared metric math: ROC AUC from histograms (shared bins count as ties)."""

from __future__ import annotations

import numpy as np

from modelpilot.monitoring.performance.metric_math import auc_from_histograms


def test_auc_from_histograms_counts_shared_bins_as_ties() -> None:
    assert auc_from_histograms(np.array([0, 2]), np.array([2, 0])) == 1.0
    assert auc_from_histograms(np.array([1, 1]), np.array([1, 1])) == 0.5
    assert auc_from_histograms(np.array([0, 0]), np.array([1, 1])) is None
