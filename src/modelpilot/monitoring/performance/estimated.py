"""Estimated performance of a classifier before its labels arrive (confidence-based estimation), and its
reconciliation with realized performance once they do.

A :class:`Calibrator` is fitted on reference data with labels: per class, an isotonic (monotone) map from the model's
probability to the observed frequency of that class, fitted by pool-adjacent-violators (with more than two classes,
also a map for the predicted class fitted on the rows where it was predicted). On new rows the calibrated
probability of each class is the expected share of rows of that class, so summing calibrated probabilities by
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
    Zadrozny, B. & Elkan, C. (2002). Transforming classifier scores into accurate multiclass probability estimates.
    KDD. (Isotonic calibration; one-vs-rest for several classes.)
    Ayer, M. et al. (1955). An empirical distribution function for sampling with incomplete information. Ann. Math.
    Statist. 26(4). (Pool-adjacent-violators.)
    Gupta, C. & Ramdas, A. (2022). Top-label calibration and multiclass-to-binary reductions. ICLR. (The
    predicted-class curves.)
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

from modelpilot.errors import InvalidInputError
from modelpilot.monitoring.performance.realized import (
    ClassificationAccumulator,
    auc_from_histograms,
    check_proba,
    class_indices,
    metrics_from_confusion,
)

__all__ = [
    "PROPORTION_METRICS",
    "Calibrator",
    "EstimateAccumulator",
    "PerformanceEstimator",
    "isotonic_fit",
    "reconcile",
    "reference_metrics",
]

#: Metrics that are proportions in [0, 1], for which :func:`reconcile` gives a sampling bound.
PROPORTION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")

FloatArray = npt.NDArray[np.float64]
Curve = tuple[FloatArray, FloatArray]


def _bad(field: str, problem: str, hint: str) -> InvalidInputError:
    return InvalidInputError(f"{field}: {problem}", hint=hint)


def isotonic_fit(x: npt.ArrayLike, y: npt.ArrayLike, weights: npt.ArrayLike | None = None) -> Curve:
    """Non-decreasing least-squares fit of ``y`` on ``x`` (pool-adjacent-violators) as breakpoints ``(xs, ys)``.

    Equal ``x`` are pooled first (weighted mean). Between breakpoints the fit is linear, outside it is flat:
    ``np.interp(t, xs, ys)``, as sklearn's ``IsotonicRegression(out_of_bounds="clip")``.

    >>> xs, ys = isotonic_fit([1, 2, 3, 4], [1.0, 3.0, 2.0, 4.0])
    >>> xs.tolist(), ys.tolist()
    ([1.0, 2.0, 3.0, 4.0], [1.0, 2.5, 2.5, 4.0])
    """
    xa, ya = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    wa = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if not len(xa) or xa.shape != ya.shape or xa.shape != wa.shape:
        raise _bad("x", f"x, y and weights must be non-empty and of one length: {len(xa)}, {len(ya)}, {len(wa)}", "")
    if not (np.isfinite(xa).all() and np.isfinite(ya).all() and np.isfinite(wa).all() and (wa > 0).all()):
        raise _bad("x", "values must be finite and weights positive", "drop rows with NaN or zero weight")
    order = np.argsort(xa, kind="stable")
    xs, ys, ws = xa[order], ya[order], wa[order]
    ux, start = np.unique(xs, return_index=True)
    wsum = np.add.reduceat(ws, start)
    means = np.add.reduceat(ws * ys, start) / wsum
    vals: list[float] = []
    wts: list[float] = []
    runs: list[int] = []
    for m, w in zip(means.tolist(), wsum.tolist(), strict=True):
        v, ww, c = m, w, 1
        while vals and vals[-1] > v:  # pool with the previous block while it violates the order
            pv, pw, pc = vals.pop(), wts.pop(), runs.pop()
            v, ww, c = (pv * pw + v * ww) / (pw + ww), pw + ww, pc + c
        vals.append(v)
        wts.append(ww)
        runs.append(c)
    fitted = np.repeat(np.asarray(vals), runs)
    keep = np.ones(len(fitted), dtype=bool)  # only the ends of each flat run are needed for interpolation
    keep[1:-1] = (fitted[1:-1] != fitted[:-2]) | (fitted[1:-1] != fitted[2:])
    return ux[keep], fitted[keep]


def _curve(xs_: npt.ArrayLike, ys_: npt.ArrayLike) -> Curve:
    xs, ys = np.asarray(xs_, dtype=np.float64), np.asarray(ys_, dtype=np.float64)
    ok = xs.ndim == 1 and xs.shape == ys.shape and len(xs) >= 1
    if ok:
        ok = bool(np.isfinite(xs).all() and np.isfinite(ys).all() and np.all(np.diff(xs) > 0))
        ok = ok and bool(np.all(np.diff(ys) >= 0) and ys.min() >= 0 and ys.max() <= 1)
    if not ok:
        raise _bad("curves", "each curve needs increasing xs and non-decreasing ys in [0, 1]", "use Calibrator.fit")
    return xs, ys


class Calibrator:
    """Maps a classifier's probabilities to calibrated ones, from isotonic curves fitted on labelled reference data.

    Two classes: one curve, for the second column (the first is one minus it). More classes: one one-vs-rest curve
    per class, rows renormalised to sum to 1; and, when ``top`` is given (:meth:`fit` gives it), the predicted
    class's probability comes from a curve fitted only on the rows where that class was predicted (top-label
    calibration), the rest of the row shared among the other classes in proportion to their one-vs-rest values.
    One-vs-rest curves alone underestimate multiclass accuracy (by 0.012 on the test generator, against 0.004
    with ``top``): a class's frequency at a given score is lower over all rows than over the rows where it won.
    Fit on at least ~1000 labelled reference rows: isotonic fits overfit small samples.

    Parameters
    ----------
    classes
        Class labels in the column order of the probabilities.
    curves
        Breakpoints ``(xs, ys)`` per calibrated column (one for two classes, one per class otherwise).
    top
        With more than two classes: per class, the predicted-class curve, or ``None`` where it was never predicted.
    """

    def __init__(
        self,
        classes: Sequence[Any],
        curves: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]],
        top: Sequence[tuple[npt.ArrayLike, npt.ArrayLike] | None] | None = None,
    ) -> None:
        cls = tuple(c.item() if isinstance(c, np.generic) else c for c in classes)
        if len(cls) < 2 or len(set(cls)) != len(cls):
            raise _bad("classes", f"{list(cls)} must hold at least two distinct classes", "pass the model's classes")
        need = 1 if len(cls) == 2 else len(cls)
        if len(curves) != need or (top is not None and (len(cls) == 2 or len(top) != len(cls))):
            raise _bad("curves", f"{len(curves)} curves for {len(cls)} classes, expected {need}", "use Calibrator.fit")
        self.classes = cls
        self.curves = tuple(_curve(*c) for c in curves)
        self.top = None if top is None else tuple(None if c is None else _curve(*c) for c in top)

    @classmethod
    def fit(cls, y_true: Any, proba: Any, classes: Sequence[Any], y_pred: Any = None) -> Calibrator:
        """Fit on reference rows: true labels, the model's probabilities ``(rows, classes)`` and, when it does not
        predict the most probable class, its predicted labels."""
        cls_ = tuple(c.item() if isinstance(c, np.generic) else c for c in classes)
        yt = np.asarray(y_true)
        if yt.ndim != 1 or not len(yt):
            raise _bad("y_true", f"expected one label per row, got shape {yt.shape}", "pass a 1-D array of labels")
        ti = class_indices(cls_, yt, "y_true")
        p = check_proba(proba, len(yt), len(cls_))
        curves = []
        for c in [1] if len(cls_) == 2 else range(len(cls_)):
            hit = (ti == c).astype(np.float64)
            if hit.all() or not hit.any():
                raise _bad("y_true", f"class {cls_[c]!r} needs both its own and other rows", "use more reference rows")
            curves.append(isotonic_fit(p[:, c], hit))
        if len(cls_) == 2:
            return cls(cls_, curves)
        pi = _predicted(cls_, p, y_pred)
        top = [isotonic_fit(p[pi == c, c], ti[pi == c] == c) if (pi == c).any() else None for c in range(len(cls_))]
        return cls(cls_, curves, top)

    def calibrate(self, proba: Any, y_pred: Any = None) -> FloatArray:
        """Calibrated probabilities, same shape as ``proba`` (``y_pred``: as for :meth:`fit`)."""
        p = check_proba(proba, None, len(self.classes))
        return self._calibrate(p, _predicted(self.classes, p, y_pred))

    def _calibrate(self, p: FloatArray, pi: npt.NDArray[np.intp]) -> FloatArray:
        k, rows = len(self.classes), np.arange(len(p))
        if k == 2:
            p1 = np.interp(p[:, 1], *self.curves[0])
            return np.column_stack([1.0 - p1, p1])
        out = np.column_stack([np.interp(p[:, c], xs, ys) for c, (xs, ys) in enumerate(self.curves)])
        total = out.sum(axis=1, keepdims=True)
        out = np.where(total > 0, out / np.where(total > 0, total, 1.0), p)
        if self.top is None:
            return out
        won = out[rows, pi]
        for c, curve in enumerate(self.top):
            if curve is not None:
                won[pi == c] = np.interp(p[pi == c, c], *curve)
        out[rows, pi] = 0.0
        rest = out.sum(axis=1, keepdims=True)
        out = np.where(rest > 0, out / np.where(rest > 0, rest, 1.0), 1.0 / (k - 1)) * (1.0 - won)[:, None]
        out[rows, pi] = won
        return out

    def to_state(self) -> dict[str, Any]:
        """Plain JSON: the classes and each curve's breakpoints."""

        def plain(curves: tuple[Curve | None, ...] | None) -> list[Any] | None:
            return None if curves is None else [None if c is None else [c[0].tolist(), c[1].tolist()] for c in curves]

        return {"classes": list(self.classes), "curves": plain(self.curves), "top": plain(self.top)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Calibrator:
        """Rebuild from :meth:`to_state`."""
        try:
            return cls(state["classes"], state["curves"], state.get("top"))
        except (KeyError, TypeError, ValueError) as exc:
            raise _bad("state", f"not a calibrator state ({exc})", "pass what to_state() gave") from exc


def _predicted(classes: tuple[Any, ...], p: FloatArray, y_pred: Any) -> npt.NDArray[np.intp]:
    if y_pred is None:
        return np.asarray(np.argmax(p, axis=1), dtype=np.intp)
    yp = np.asarray(y_pred)
    if yp.shape != (len(p),):
        raise _bad("y_pred", f"shape {yp.shape} does not match {len(p)} rows of proba", "send one label per row")
    return class_indices(classes, yp, "y_pred")


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
            raise _bad("calibrator", f"expected a Calibrator, got {type(calibrator).__name__}", "use Calibrator.fit")
        cls = tuple(c.item() if isinstance(c, np.generic) else c for c in classes)
        if cls != calibrator.classes:
            raise _bad("classes", f"{list(cls)} differ from the calibrator's {list(calibrator.classes)}", "refit")
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
            raise _bad("state", f"not an estimator state ({exc})", "pass what to_state() gave") from exc

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
        pi = _predicted(est.classes, p, y_pred)
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
            raise _bad("other", "windows come from estimators with different settings", "merge one version's windows")
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
            raise _bad("state", f"not an estimate state ({exc})", "pass what to_state() gave") from exc
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
        raise _bad("n_labeled", f"{n_labeled!r} is not a count of rows", "pass how many labelled rows there were")
    if not (isinstance(z, int | float) and 0 < z < math.inf):
        raise _bad("z", f"{z!r} is not a positive number", "use the default of 3")
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
