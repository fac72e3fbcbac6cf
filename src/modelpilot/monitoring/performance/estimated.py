"""Estimated performance of a classifier before its labels arrive (confidence-based estimation), and its
reconciliation with realized performance once they do.

A :class:`~modelpilot.monitoring.performance.calibration.Calibrator`, fitted on reference data with labels, maps the
model's probability of each class to the expected share of rows of that class, so summing calibrated probabilities by
predicted class gives the *expected* confusion matrix, and from it expected accuracy, precision, recall and F1. ROC
AUC is estimated the same way: each row counts as a positive with weight p and as a negative with weight 1 - p (p
calibrated) in fixed-bin histograms of the model's own score. This holds while P(label | score) stays as in the
reference (covariate shift is fine); under concept shift the estimate stays while realized performance moves.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> p1 = rng.uniform(size=4000)
    >>> y = (rng.uniform(size=4000) < p1).astype(int)
    >>> proba = np.column_stack([1 - p1, p1])
    >>> est = PerformanceEstimator(Calibrator.fit(y, proba, classes=[0, 1]), classes=[0, 1])
    >>> e = est.estimate((p1 > 0.5).astype(int), proba)
    >>> r = reference_metrics(y, (p1 > 0.5).astype(int), proba, classes=[0, 1])
    >>> abs(e["accuracy"] - r["accuracy"]) < 0.01, abs(e["roc_auc"] - r["roc_auc"]) < 0.01
    (True, True)

References:
    NannyML documentation, "Confidence-based Performance Estimation (CBPE)". (The estimation idea.)
    Agresti, A. & Coull, B. (1998). Approximate is better than "exact" for interval estimation of binomial
    proportions. The American Statistician 52(2). (The reconciliation bound.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.monitoring.performance.calibration import Calibrator
from modelpilot.monitoring.performance.metric_math import (
    auc_from_histograms,
    bad,
    check_proba,
    metrics_from_confusion,
    predicted_indices,
)
from modelpilot.monitoring.performance.realized import ClassificationAccumulator

__all__ = [
    "PROPORTION_METRICS",
    "EstimateAccumulator",
    "PerformanceEstimator",
    "reconcile",
    "reference_metrics",
]

#: Metrics that are proportions in [0, 1], for which :func:`reconcile` gives a sampling bound.
PROPORTION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")

FloatArray = npt.NDArray[np.float64]


class PerformanceEstimator:
    """Settings shared by the windows of one model version: its calibrator, classes, positive class and bins.

    Parameters
    ----------
    calibrator
        Fitted on the version's reference data.
    classes
        The probability columns' classes; must equal the calibrator's, in the same order.
    positive, bins
        As for :class:`~modelpilot.monitoring.performance.realized.ClassificationAccumulator`, so the estimated and
        realized metrics mean the same thing.
    """

    def __init__(
        self, calibrator: Calibrator, classes: Sequence[Any], *, positive: Any = None, bins: int = 1000
    ) -> None:
        if not isinstance(calibrator, Calibrator):
            raise bad("calibrator", f"expected a Calibrator, got {type(calibrator).__name__}", "use Calibrator.fit")
        cls = tuple(c.item() if isinstance(c, np.generic) else c for c in classes)
        if cls != calibrator.classes:
            raise bad("classes", f"{list(cls)} differ from the calibrator's {list(calibrator.classes)}", "refit")
        ClassificationAccumulator(cls, positive=positive, bins=bins)  # the same checks as the realized side
        self.calibrator, self.classes, self.positive, self.bins = calibrator, cls, positive, bins
        self._positive_index = (
            None if len(cls) != 2 else cls.index(positive if positive is not None else sorted(cls)[1])
        )

    def to_state(self) -> dict[str, Any]:
        """Plain JSON: the calibrator and the settings (what a profile stores)."""
        return {"calibrator": self.calibrator.to_state(), "positive": self.positive, "bins": self.bins}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> PerformanceEstimator:
        """Rebuild from :meth:`to_state`."""
        try:
            cal = Calibrator.from_state(state["calibrator"])
            return cls(cal, cal.classes, positive=state["positive"], bins=state["bins"])
        except (KeyError, TypeError) as exc:
            raise bad("state", f"not an estimator state ({exc})", "pass what to_state() gave") from exc

    def accumulator(self) -> EstimateAccumulator:
        """An empty window."""
        return EstimateAccumulator(self)

    def estimate(self, y_pred: Any, proba: Any) -> dict[str, float | None]:
        """Estimated metrics of one batch (a one-off window)."""
        return self.accumulator().update(y_pred, proba).metrics()


class EstimateAccumulator:
    """One window's expected confusion matrix and weighted score histograms (mergeable by addition).

    Parameters
    ----------
    estimator
        The calibrator and settings; not part of :meth:`to_state` (give it again to :meth:`from_state`).
    """

    def __init__(self, estimator: PerformanceEstimator) -> None:
        self.estimator = estimator
        self._reset()

    def _reset(self) -> None:
        k, bins = len(self.estimator.classes), self.estimator.bins
        self._n = 0
        self._cm = np.zeros((k, k))
        self._pos = np.zeros((k, bins))
        self._neg = np.zeros((k, bins))
        self._self = np.zeros(k)

    def update(self, y_pred: Any, proba: Any) -> EstimateAccumulator:
        """Add rows: the model's predicted labels (``None``: the most probable class) and probabilities."""
        est = self.estimator
        k = len(est.classes)
        p = check_proba(proba, None, k)
        pi = predicted_indices(est.classes, p, y_pred)
        cal = est.calibrator._calibrate(p, pi)
        for i in range(k):  # expected rows of true class i, by predicted class
            self._cm[i] += np.bincount(pi, weights=cal[:, i], minlength=k)
        b = np.minimum((p * est.bins).astype(np.intp), est.bins - 1) + np.arange(k) * est.bins
        self._pos += np.bincount(b.ravel(), weights=cal.ravel(), minlength=k * est.bins).reshape(k, -1)
        self._neg += np.bincount(b.ravel(), weights=(1.0 - cal).ravel(), minlength=k * est.bins).reshape(k, -1)
        self._self += (cal * (1.0 - cal)).sum(axis=0)
        self._n += len(p)
        return self

    @property
    def n(self) -> int:
        """Rows accumulated."""
        return self._n

    @property
    def expected_confusion(self) -> FloatArray:
        """Expected counts, rows = true class, columns = predicted class (a copy)."""
        return self._cm.copy()

    def metrics(self) -> dict[str, float | None]:
        """Estimated ``accuracy``, ``precision``, ``recall``, ``f1`` and ``roc_auc`` (``None`` where undefined)."""
        pi = self.estimator._positive_index
        out = metrics_from_confusion(self._cm, pi)
        aucs = [
            auc_from_histograms(self._pos[c], self._neg[c], float(self._self[c]))
            for c in ([pi] if pi is not None else range(len(self._cm)))
        ]
        defined = [a for a in aucs if a is not None]
        out["roc_auc"] = float(np.mean(defined)) if defined and self.n else None
        return out

    def merge(self, other: EstimateAccumulator) -> EstimateAccumulator:
        """A new accumulator holding both (same estimator settings required)."""
        a, b = self.estimator, other.estimator
        if (a.classes, a.positive, a.bins) != (b.classes, b.positive, b.bins):
            raise bad("other", "windows come from estimators with different settings", "merge one version's windows")
        out = EstimateAccumulator(a)
        out._n = self._n + other._n
        out._cm, out._pos, out._neg = self._cm + other._cm, self._pos + other._pos, self._neg + other._neg
        out._self = self._self + other._self
        return out

    def to_state(self) -> dict[str, Any]:
        """Plain JSON state (histograms stored sparsely)."""

        def sparse(h: FloatArray) -> dict[str, list[Any]]:
            nz = np.flatnonzero(h)
            return {"at": nz.tolist(), "value": h.ravel()[nz].tolist()}

        return {
            "type": "estimate",
            "classes": list(self.estimator.classes),
            "n": self.n,
            "confusion": self._cm.tolist(),
            "pos": sparse(self._pos),
            "neg": sparse(self._neg),
            "self": self._self.tolist(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], estimator: PerformanceEstimator) -> EstimateAccumulator:
        """Rebuild from :meth:`to_state` with the estimator it was made with."""
        acc = cls(estimator)
        try:
            if state["type"] != "estimate" or tuple(state["classes"]) != estimator.classes:
                raise ValueError("another kind of state, or other classes")
            acc._n = int(state["n"])
            acc._cm = np.asarray(state["confusion"], dtype=np.float64).reshape(acc._cm.shape)
            for name in ("pos", "neg"):
                h = np.zeros(acc._pos.size)
                h[np.asarray(state[name]["at"], dtype=np.intp)] = state[name]["value"]
                setattr(acc, f"_{name}", h.reshape(acc._pos.shape))
            acc._self = np.asarray(state["self"], dtype=np.float64).reshape(acc._self.shape)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise bad("state", f"not an estimate state ({exc})", "pass what to_state() gave") from exc
        return acc


def reference_metrics(
    y_true: Any, y_pred: Any, proba: Any, classes: Sequence[Any], *, positive: Any = None, bins: int = 1000
) -> dict[str, float | None]:
    """Realized metrics on the reference data: the baseline that estimates and realized metrics are read against."""
    return ClassificationAccumulator(classes, positive=positive, bins=bins).update(y_true, y_pred, proba).metrics()


def reconcile(
    estimated: Mapping[str, float | None],
    realized: Mapping[str, float | None],
    n_labeled: int,
    *,
    sizes: Mapping[str, float] | None = None,
    z: float = 3.0,
) -> dict[str, dict[str, Any]]:
    """Compare estimated with realized metrics, per metric in both mappings.

    Each entry holds ``estimated``, ``realized``, ``difference`` (realized - estimated), ``n`` (rows behind the
    realized value: ``sizes[metric]`` or else ``n_labeled``), ``bound`` and ``within`` (``|difference| <= bound``).
    For the proportions in :data:`PROPORTION_METRICS`, ``bound`` is ``z`` Agresti-Coull standard errors of a
    binomial proportion equal to the estimate at ``n`` rows: how far the realized value may fall from a correct
    estimate by chance alone. ``None`` where a value is missing, ``n`` is 0, or the metric is not a proportion.

    >>> r = reconcile({"accuracy": 0.90}, {"accuracy": 0.86}, n_labeled=400)
    >>> r["accuracy"]["within"], round(r["accuracy"]["bound"], 3)
    (True, 0.046)
    """
    if not isinstance(n_labeled, int) or isinstance(n_labeled, bool) or n_labeled < 0:
        raise bad("n_labeled", f"{n_labeled!r} is not a count of rows", "pass how many labelled rows there were")
    if not (isinstance(z, int | float) and 0 < z < math.inf):
        raise bad("z", f"{z!r} is not a positive number", "use the default of 3")
    out: dict[str, dict[str, Any]] = {}
    for metric in [*estimated, *(m for m in realized if m not in estimated)]:
        e, r = estimated.get(metric), realized.get(metric)
        n = float((sizes or {}).get(metric, n_labeled))
        diff = None if e is None or r is None else r - e
        bound = None
        if e is not None and metric in PROPORTION_METRICS and n > 0:
            n_adj = n + z * z
            centre = (n * e + z * z / 2) / n_adj
            bound = z * math.sqrt(centre * (1 - centre) / n_adj)
        within = None if diff is None or bound is None else abs(diff) <= bound
        out[metric] = {"estimated": e, "realized": r, "difference": diff, "n": n, "bound": bound, "within": within}
    return out
