"""Realized performance: classification and regression metrics on mergeable accumulators of joined labels.

An accumulator holds sums and counts only (a confusion matrix, per-class score histograms, a log-loss sum, error
sums), so two windows or two Kafka partitions combine by addition: ``a.merge(b)`` gives what one accumulator over
the rows of both would give. ROC AUC is computed from per-class histograms of the predicted probability with fixed
bins on [0, 1]; it is exact except for positive/negative pairs whose scores differ but fall in the same bin, which
count as ties. :attr:`ClassificationAccumulator.roc_auc_max_error` bounds that error from the histograms themselves.

Example:
    >>> import numpy as np
    >>> acc = ClassificationAccumulator(classes=["no", "yes"])
    >>> _ = acc.update(np.array(["yes", "no", "yes"]), np.array(["yes", "no", "no"]),
    ...                np.array([[0.2, 0.8], [0.9, 0.1], [0.6, 0.4]]))
    >>> m = acc.metrics()
    >>> round(m["accuracy"], 3), m["precision"], m["recall"], m["roc_auc"]
    (0.667, 1.0, 0.5, 1.0)
    >>> reg = RegressionAccumulator().update(np.array([1.0, 2.0]), np.array([1.5, 2.0]))
    >>> reg.metrics()["mae"]
    0.25
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.errors import InvalidInputError

__all__ = [
    "LOG_LOSS_EPS",
    "ClassificationAccumulator",
    "RegressionAccumulator",
    "auc_from_histograms",
    "check_proba",
    "class_indices",
    "metrics_from_confusion",
    "sample_sizes",
]

#: Probabilities are clipped to [LOG_LOSS_EPS, 1] before the log, so one confident mistake costs ~34.5, not infinity.
LOG_LOSS_EPS = 1e-15
_SUM_TOL = 1e-3  # how far a row of probabilities may sum from 1 (float32 models round)

FloatArray = npt.NDArray[np.float64]


def _bad(field: str, problem: str, hint: str) -> InvalidInputError:
    return InvalidInputError(f"{field}: {problem}", hint=hint)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _sorted_classes(values: Sequence[Any], field: str) -> tuple[Any, ...]:
    try:
        return tuple(_plain(v) for v in sorted({_plain(v) for v in values}))
    except TypeError as exc:
        raise _bad(field, "classes of mixed types cannot be ordered", "use labels of one type") from exc


def class_indices(classes: tuple[Any, ...], values: npt.ArrayLike, field: str) -> npt.NDArray[np.intp]:
    """Column index of each value in ``classes`` (vectorised); unknown values raise naming ``field``."""
    arr = np.asarray(values)
    ref = np.asarray(classes)
    order = np.argsort(ref, kind="stable")
    ordered = ref[order]
    try:
        pos = np.minimum(np.searchsorted(ordered, arr), len(ordered) - 1)
        ok = np.asarray(ordered[pos] == arr, dtype=bool)
    except (TypeError, ValueError) as exc:
        raise _bad(field, f"values do not compare with the classes {list(classes)}", "send known labels") from exc
    if ok.shape != arr.shape or not ok.all():
        unknown = arr[~ok][:3].tolist() if ok.shape == arr.shape else arr[:3].tolist()
        raise _bad(field, f"values {unknown} are not among the classes {list(classes)}", "pass every class in classes=")
    return np.asarray(order[pos], dtype=np.intp)


def metrics_from_confusion(cm: npt.NDArray[Any], positive: int | None) -> dict[str, float | None]:
    """Accuracy, precision, recall and F1 from a confusion matrix (rows true, columns predicted; counts or expected
    counts). With ``positive`` the last three are for that class; without, they are macro averages over the classes
    where each is defined (sklearn's ``zero_division=nan``). Undefined values are ``None``."""
    cm = np.asarray(cm, dtype=np.float64)
    n = float(cm.sum())
    if n <= 0:
        return {"accuracy": None, "precision": None, "recall": None, "f1": None}
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    idx = [positive] if positive is not None else list(range(len(tp)))

    def avg(num: FloatArray, den: FloatArray) -> float | None:
        num, den = num[idx], den[idx]
        keep = den > 0
        return float(np.mean(num[keep] / den[keep])) if keep.any() else None

    return {
        "accuracy": float(tp.sum() / n),
        "precision": avg(tp, predicted),
        "recall": avg(tp, actual),
        "f1": avg(2 * tp, predicted + actual),
    }


def auc_from_histograms(pos: npt.NDArray[Any], neg: npt.NDArray[Any], self_pairs: float = 0.0) -> float | None:
    """ROC AUC from score histograms of positives and negatives (same fixed bins; counts or weights).

    Pairs in one bin count as ties (half). ``self_pairs`` removes a row's pairing with itself when one row carries
    both positive and negative weight (the estimated case). ``None`` when there are no positive/negative pairs.
    """
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    below = np.cumsum(neg) - neg
    den = float(pos.sum() * neg.sum()) - self_pairs
    if den <= 0:
        return None
    return float((pos @ (below + 0.5 * neg) - 0.5 * self_pairs) / den)


def check_proba(proba: Any, rows: int | None, k: int) -> FloatArray:
    """``proba`` as float64 ``(rows, k)`` probabilities whose rows sum to 1 (within 1e-3), or an error naming it.
    ``rows=None`` accepts any number of rows."""
    try:
        p = np.asarray(proba, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _bad("proba", "is not a numeric (rows, classes) array", "send class probabilities as numbers") from exc
    if p.ndim != 2 or p.shape[1] != k or (rows is not None and p.shape[0] != rows):
        want = f"({'rows' if rows is None else rows}, {k})"
        raise _bad("proba", f"shape {p.shape} is not (rows, classes) = {want}", "send one column per class")
    if not np.isfinite(p).all() or p.min(initial=0.0) < 0.0 or p.max(initial=0.0) > 1.0:
        raise _bad("proba", "values must be finite probabilities in [0, 1]", "send probabilities, not scores")
    if len(p) and np.abs(p.sum(axis=1) - 1.0).max() > _SUM_TOL:
        raise _bad("proba", "rows must sum to 1", "normalise each row (softmax for logits)")
    return p


def sample_sizes(cm: npt.NDArray[Any], positive: int | None) -> dict[str, float]:
    """Rows behind each confusion metric, for sampling error: all rows for accuracy; predicted (precision), actual
    (recall) or their mean (F1) rows of the positive class, or over classes ``K**2 / sum(1 / n_c)`` (the size at
    which a macro average of K proportions has the variance of one proportion)."""
    cm = np.asarray(cm, dtype=np.float64)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    idx = [positive] if positive is not None else list(range(len(cm)))

    def eff(n_c: FloatArray) -> float:
        n_c = n_c[idx]
        n_c = n_c[n_c > 0]
        return float(len(n_c) ** 2 / np.sum(1.0 / n_c)) if len(n_c) else 0.0

    return {
        "accuracy": float(cm.sum()),
        "precision": eff(predicted),
        "recall": eff(actual),
        "f1": eff((predicted + actual) / 2),
    }


def _vector(values: Any, field: str) -> npt.NDArray[Any]:
    try:
        arr = np.asarray(values)
    except ValueError as exc:  # ragged nested lists
        raise _bad(field, "is not one value per row", "flatten it to one value per row") from exc
    if arr.ndim != 1:
        raise _bad(field, f"expected one value per row (1-D), got shape {arr.shape}", "flatten it to one per row")
    return arr


class _Sum:
    """A float64 sum with Neumaier compensation across batches (batches themselves use numpy's pairwise sum)."""

    __slots__ = ("c", "s")

    def __init__(self, s: float = 0.0, c: float = 0.0) -> None:
        self.s, self.c = s, c

    def add(self, x: float) -> None:
        t = self.s + x
        self.c += (self.s - t) + x if abs(self.s) >= abs(x) else (x - t) + self.s
        self.s = t

    @property
    def value(self) -> float:
        return self.s + self.c


class ClassificationAccumulator:
    """Confusion matrix, log-loss sum and per-class score histograms of a classifier's joined rows.

    Parameters
    ----------
    classes
        Class labels in the column order of the probabilities (from the profile or the event). ``None`` learns them
        from the labels seen (sorted); they may then grow until probabilities have been recorded.
    positive
        The positive class of a binary problem; default the second class in sorted order (as sklearn's ``1``).
    bins
        Fixed histogram bins on [0, 1] for ROC AUC; 1000 keeps the AUC error below ~1e-3 for smooth scores.

    Metrics: ``accuracy``, ``precision``, ``recall``, ``f1`` (binary: of the positive class; otherwise macro over
    the classes where each is defined), ``roc_auc`` (binary, or one-vs-rest macro over classes with both positive
    and negative rows), ``log_loss`` (over rows that came with probabilities). ``None`` where undefined.
    """

    def __init__(self, classes: Sequence[Any] | None = None, *, positive: Any = None, bins: int = 1000) -> None:
        if not isinstance(bins, int) or isinstance(bins, bool) or not 10 <= bins <= 100_000:
            raise _bad("bins", f"{bins!r} is not an integer in [10, 100000]", "use the default of 1000")
        if classes is not None:
            cls = tuple(_plain(c) for c in classes)
            if len(cls) < 1 or len(set(cls)) != len(cls):
                raise _bad("classes", f"{list(cls)} must be distinct and not empty", "pass each class once")
            if positive is not None and _plain(positive) not in cls:
                raise _bad("positive", f"{positive!r} is not among the classes {list(cls)}", "pick one of them")
            _sorted_classes(cls, "classes")
        self._fixed = classes is not None
        self._given = cls if classes is not None else None
        self.positive = _plain(positive)
        self.bins = bins
        self._reset()

    def _reset(self) -> None:
        self._classes: tuple[Any, ...] | None = self._given
        k = 0 if self._classes is None else len(self._classes)
        self._cm = np.zeros((k, k), dtype=np.int64)
        self._hist_pos = np.zeros((k, self.bins), dtype=np.int64)
        self._hist_all = np.zeros((k, self.bins), dtype=np.int64)
        self._n_proba = 0
        self._log_loss = _Sum()

    @property
    def classes(self) -> tuple[Any, ...] | None:
        """The class labels, in column order (``None`` until known)."""
        return self._classes

    @property
    def n(self) -> int:
        """Rows accumulated."""
        return int(self._cm.sum())

    @property
    def n_proba(self) -> int:
        """Rows that came with probabilities (the base of ``log_loss`` and ``roc_auc``)."""
        return self._n_proba

    @property
    def confusion(self) -> npt.NDArray[np.int64]:
        """Counts, rows = true class, columns = predicted class, in :attr:`classes` order (a copy)."""
        return self._cm.copy()

    def _positive_index(self) -> int | None:
        if self._classes is None or len(self._classes) != 2:
            return None
        pos = self.positive if self.positive is not None else sorted(self._classes)[1]
        return self._classes.index(pos) if pos in self._classes else None

    def _reindex(self, classes: tuple[Any, ...], field: str = "y_true") -> None:
        if classes == self._classes:
            return
        if self._n_proba:
            raise _bad(field, f"new classes {list(classes)} after probabilities were recorded", "pass classes=")
        old = self._classes or ()
        where = np.array([classes.index(c) for c in old], dtype=np.intp)
        cm = np.zeros((len(classes), len(classes)), dtype=np.int64)
        cm[np.ix_(where, where)] = self._cm
        self._cm = cm
        self._hist_pos = np.zeros((len(classes), self.bins), dtype=np.int64)
        self._hist_all = np.zeros((len(classes), self.bins), dtype=np.int64)
        self._classes = classes

    def update(self, y_true: Any, y_pred: Any, proba: Any = None) -> ClassificationAccumulator:
        """Add joined rows: true labels, predicted labels and optionally probabilities ``(rows, classes)``."""
        yt, yp = _vector(y_true, "y_true"), _vector(y_pred, "y_pred")
        if len(yp) != len(yt):
            raise _bad("y_pred", f"{len(yp)} values for {len(yt)} labels", "send one prediction per label")
        if len(yt) == 0:
            return self
        if not self._fixed:
            try:
                seen = _sorted_classes([*np.unique(yt).tolist(), *np.unique(yp).tolist()], "y_true")
            except TypeError as exc:
                raise _bad("y_true", "labels of mixed types cannot be ordered", "use labels of one type") from exc
            if not set(seen) <= set(self._classes or ()):
                self._reindex(_sorted_classes([*seen, *(self._classes or ())], "y_true"))
        assert self._classes is not None
        ti = class_indices(self._classes, yt, "y_true")
        pi = class_indices(self._classes, yp, "y_pred")
        p = check_proba(proba, len(yt), len(self._classes)) if proba is not None else None
        k = len(self._classes)
        self._cm += np.bincount(ti * k + pi, minlength=k * k).reshape(k, k)
        if p is not None:
            b = np.minimum((p * self.bins).astype(np.intp), self.bins - 1)
            offsets = np.arange(k, dtype=np.intp) * self.bins
            self._hist_all += np.bincount((b + offsets).ravel(), minlength=k * self.bins).reshape(k, -1)
            own = b[np.arange(len(ti)), ti] + ti * self.bins
            self._hist_pos += np.bincount(own, minlength=k * self.bins).reshape(k, -1)
            p_true = np.clip(p[np.arange(len(ti)), ti], LOG_LOSS_EPS, 1.0)
            self._log_loss.add(float(-np.log(p_true).sum()))
            self._n_proba += len(ti)
        return self

    @property
    def roc_auc_max_error(self) -> float | None:
        """Upper bound on ``|roc_auc - exact AUC|`` from pairs sharing a bin (``None`` when AUC is undefined)."""
        parts = self._auc_parts()
        return float(np.mean([e for _, e in parts])) if parts else None

    def _auc_parts(self) -> list[tuple[float, float]]:
        if self._classes is None or self._n_proba == 0 or len(self._classes) < 2:
            return []
        pi = self._positive_index()
        out = []
        for c in [pi] if pi is not None else range(len(self._classes)):
            pos, neg = self._hist_pos[c], self._hist_all[c] - self._hist_pos[c]
            auc = auc_from_histograms(pos, neg)
            if auc is not None:
                out.append((auc, 0.5 * float(pos @ neg) / (float(pos.sum()) * float(neg.sum()))))
        return out

    def metrics(self) -> dict[str, float | None]:
        """The metrics named in the class docstring."""
        if self._classes is None:
            return dict.fromkeys(("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"))
        out = metrics_from_confusion(self._cm, self._positive_index())
        parts = self._auc_parts()
        out["roc_auc"] = float(np.mean([a for a, _ in parts])) if parts else None
        out["log_loss"] = self._log_loss.value / self._n_proba if self._n_proba else None
        return out

    def sample_sizes(self) -> dict[str, float]:
        """Rows behind each metric, the ``sizes`` that :func:`~modelpilot.monitoring.performance.estimated.reconcile`
        takes (see :func:`sample_sizes`). For ``roc_auc``, the smaller of positives and negatives: the variance of
        an AUC is at most AUC(1 - AUC) / min(positives, negatives) (Birnbaum & Klose, 1957)."""
        if self._classes is None:
            return {}
        pi = self._positive_index()
        out = sample_sizes(self._cm, pi)
        if self._n_proba and len(self._classes) >= 2:
            n_pos = self._hist_pos.sum(axis=1).astype(np.float64)
            m = np.minimum(n_pos, self._n_proba - n_pos)[[pi] if pi is not None else slice(None)]
            m = m[m > 0]
            out["roc_auc"] = float(len(m) ** 2 / np.sum(1.0 / m)) if len(m) else 0.0
        return out

    def merge(self, other: ClassificationAccumulator) -> ClassificationAccumulator:
        """A new accumulator holding both (neither input changes)."""
        if not isinstance(other, ClassificationAccumulator):
            raise _bad("other", f"cannot merge {type(other).__name__}", "merge two ClassificationAccumulators")
        if (self.bins, self.positive) != (other.bins, other.positive):
            raise _bad("other", "bins or positive class differ", "merge accumulators built with the same settings")
        a, b = (
            ClassificationAccumulator.from_state(self.to_state()),
            ClassificationAccumulator.from_state(other.to_state()),
        )
        if a._fixed or b._fixed:
            if a._fixed and b._fixed and a._classes != b._classes:
                raise _bad("other", f"classes {b._classes} differ from {a._classes}", "merge windows of one model")
            target = a._classes if a._fixed else b._classes
        else:
            target = _sorted_classes([*(a._classes or ()), *(b._classes or ())], "classes") or None
        for acc in (a, b):
            if target is not None and not set(acc._classes or ()) <= set(target):
                raise _bad("other", f"classes {acc._classes} are not among {list(target)}", "pass classes=")
            if target is not None:
                acc._reindex(target, "other")
        a._fixed = a._fixed or b._fixed
        a._given = a._classes if a._fixed else None
        a._cm += b._cm
        a._hist_pos += b._hist_pos
        a._hist_all += b._hist_all
        a._n_proba += b._n_proba
        a._log_loss.add(b._log_loss.s)
        a._log_loss.add(b._log_loss.c)
        return a

    def to_state(self) -> dict[str, Any]:
        """Plain JSON state (histograms stored sparsely)."""

        def sparse(h: npt.NDArray[np.int64]) -> dict[str, list[int]]:
            nz = np.flatnonzero(h)
            return {"at": nz.tolist(), "count": h.ravel()[nz].tolist()}

        return {
            "type": "classification",
            "classes": None if self._classes is None else list(self._classes),
            "fixed": self._fixed,
            "positive": self.positive,
            "bins": self.bins,
            "confusion": self._cm.tolist(),
            "hist_pos": sparse(self._hist_pos),
            "hist_all": sparse(self._hist_all),
            "n_proba": self._n_proba,
            "log_loss": [self._log_loss.s, self._log_loss.c],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ClassificationAccumulator:
        """Rebuild from :meth:`to_state`."""
        try:
            if state["type"] != "classification":
                raise ValueError("not a classification state")
            classes = state["classes"]
            acc = cls(classes if state["fixed"] else None, positive=state["positive"], bins=state["bins"])
            if classes is not None and not state["fixed"]:
                acc._reindex(tuple(classes))
            k = 0 if classes is None else len(classes)
            acc._cm = np.asarray(state["confusion"], dtype=np.int64).reshape(k, k)
            for name in ("hist_pos", "hist_all"):
                h = np.zeros(k * acc.bins, dtype=np.int64)
                h[np.asarray(state[name]["at"], dtype=np.intp)] = state[name]["count"]
                setattr(acc, f"_{name}", h.reshape(k, acc.bins))
            acc._n_proba = int(state["n_proba"])
            acc._log_loss = _Sum(float(state["log_loss"][0]), float(state["log_loss"][1]))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise _bad("state", f"not a classification accumulator state ({exc})", "pass what to_state() gave") from exc
        return acc


class RegressionAccumulator:
    """Count and error sums of a regressor's joined rows: ``mae``, ``rmse`` and ``mean_error`` (prediction minus
    truth; the bias). Float64 sums, compensated across batches: relative error ~1e-15 per batch."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._n = 0
        self._abs, self._sq, self._err = _Sum(), _Sum(), _Sum()

    @property
    def n(self) -> int:
        """Rows accumulated."""
        return self._n

    def update(self, y_true: Any, y_pred: Any, proba: Any = None) -> RegressionAccumulator:
        """Add joined rows (``proba`` must be ``None``: it is there so both accumulators share one call)."""
        if proba is not None:
            raise _bad("proba", "a regressor has no class probabilities", "pass proba=None")
        values = []
        for field, raw in (("y_true", y_true), ("y_pred", y_pred)):
            arr = _vector(raw, field)
            if arr.dtype.kind not in "iuf":
                raise _bad(field, f"values must be numbers, got dtype {arr.dtype}", "send numeric targets")
            arr = arr.astype(np.float64)
            if not np.isfinite(arr).all():
                raise _bad(field, "values must be finite (no NaN or infinity)", "drop or fix those rows")
            values.append(arr)
        yt, yp = values
        if len(yp) != len(yt):
            raise _bad("y_pred", f"{len(yp)} values for {len(yt)} labels", "send one prediction per label")
        err = yp - yt
        self._n += len(err)
        self._abs.add(float(np.abs(err).sum()))
        self._sq.add(float((err * err).sum()))
        self._err.add(float(err.sum()))
        return self

    def metrics(self) -> dict[str, float | None]:
        """``mae``, ``rmse``, ``mean_error``; ``None`` before any row."""
        if self._n == 0:
            return {"mae": None, "rmse": None, "mean_error": None}
        return {
            "mae": self._abs.value / self._n,
            "rmse": math.sqrt(max(self._sq.value, 0.0) / self._n),
            "mean_error": self._err.value / self._n,
        }

    def merge(self, other: RegressionAccumulator) -> RegressionAccumulator:
        """A new accumulator holding both."""
        if not isinstance(other, RegressionAccumulator):
            raise _bad("other", f"cannot merge {type(other).__name__}", "merge two RegressionAccumulators")
        out = RegressionAccumulator.from_state(self.to_state())
        out._n += other._n
        for mine, theirs in ((out._abs, other._abs), (out._sq, other._sq), (out._err, other._err)):
            mine.add(theirs.s)
            mine.add(theirs.c)
        return out

    def to_state(self) -> dict[str, Any]:
        """Plain JSON state."""
        sums = {"abs": self._abs, "sq": self._sq, "err": self._err}
        return {"type": "regression", "n": self._n, **{k: [v.s, v.c] for k, v in sums.items()}}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> RegressionAccumulator:
        """Rebuild from :meth:`to_state`."""
        acc = cls()
        try:
            if state["type"] != "regression":
                raise ValueError("not a regression state")
            acc._n = int(state["n"])
            acc._abs, acc._sq, acc._err = (_Sum(float(state[k][0]), float(state[k][1])) for k in ("abs", "sq", "err"))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise _bad("state", f"not a regression accumulator state ({exc})", "pass what to_state() gave") from exc
        return acc
