"""The arithmetic and input checks that realized and estimated metrics share.

Both sides reduce to the same few pieces: a confusion matrix (counts, or expected counts) read as accuracy,
precision, recall and F1 (:func:`metrics_from_confusion`) with the rows behind each (:func:`sample_sizes`); ROC AUC
from fixed-bin score histograms (:func:`auc_from_histograms`); a compensated float sum across batches
(:class:`NeumaierSum`); and the checks on what callers send (labels mapped to class columns, probabilities, one value
per row), each failing with an :class:`~modelpilot.errors.InvalidInputError` that names the field and the fix.

Example:
    >>> import numpy as np
    >>> cm = np.array([[5, 1], [2, 2]])  # rows true class, columns predicted class
    >>> m = metrics_from_confusion(cm, positive=1)
    >>> m["accuracy"], round(m["precision"], 3), m["recall"]
    (0.7, 0.667, 0.5)
    >>> auc_from_histograms(np.array([0, 2]), np.array([1, 1]))
    0.75
    >>> s = NeumaierSum()
    >>> for x in (1e16, 1.0, -1e16):
    ...     s.add(x)
    >>> s.value
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.errors import InvalidInputError

__all__ = [
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
]

_SUM_TOL = 1e-3  # how far a row of probabilities may sum from 1 (float32 models round)

FloatArray = npt.NDArray[np.float64]


def bad(field: str, problem: str, hint: str) -> InvalidInputError:
    """The error for bad input: names the field, the problem and the fix."""
    return InvalidInputError(f"{field}: {problem}", hint=hint)


def plain(value: Any) -> Any:
    """A numpy scalar as the Python one; anything else as is."""
    return value.item() if isinstance(value, np.generic) else value


def sorted_classes(values: Sequence[Any], field: str) -> tuple[Any, ...]:
    """The distinct values, sorted; values that cannot be ordered raise naming ``field``."""
    try:
        return tuple(plain(v) for v in sorted({plain(v) for v in values}))
    except TypeError as exc:
        raise bad(field, "classes of mixed types cannot be ordered", "use labels of one type") from exc


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
        raise bad(field, f"values do not compare with the classes {list(classes)}", "send known labels") from exc
    if ok.shape != arr.shape or not ok.all():
        unknown = arr[~ok][:3].tolist() if ok.shape == arr.shape else arr[:3].tolist()
        raise bad(field, f"values {unknown} are not among the classes {list(classes)}", "pass every class in classes=")
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
        raise bad("proba", "is not a numeric (rows, classes) array", "send class probabilities as numbers") from exc
    if p.ndim != 2 or p.shape[1] != k or (rows is not None and p.shape[0] != rows):
        want = f"({'rows' if rows is None else rows}, {k})"
        raise bad("proba", f"shape {p.shape} is not (rows, classes) = {want}", "send one column per class")
    if not np.isfinite(p).all() or p.min(initial=0.0) < 0.0 or p.max(initial=0.0) > 1.0:
        raise bad("proba", "values must be finite probabilities in [0, 1]", "send probabilities, not scores")
    if len(p) and np.abs(p.sum(axis=1) - 1.0).max() > _SUM_TOL:
        raise bad("proba", "rows must sum to 1", "normalise each row (softmax for logits)")
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


def row_vector(values: Any, field: str) -> npt.NDArray[Any]:
    """``values`` as a 1-D array (one value per row), or an error naming ``field``."""
    try:
        arr = np.asarray(values)
    except ValueError as exc:  # ragged nested lists
        raise bad(field, "is not one value per row", "flatten it to one value per row") from exc
    if arr.ndim != 1:
        raise bad(field, f"expected one value per row (1-D), got shape {arr.shape}", "flatten it to one per row")
    return arr


class NeumaierSum:
    """A float64 sum with Neumaier compensation across batches (batches themselves use numpy's pairwise sum)."""

    __slots__ = ("c", "s")

    def __init__(self, s: float = 0.0, c: float = 0.0) -> None:
        self.s, self.c = s, c

    def add(self, x: float) -> None:
        """Add one term (a batch's sum)."""
        t = self.s + x
        self.c += (self.s - t) + x if abs(self.s) >= abs(x) else (x - t) + self.s
        self.s = t

    @property
    def value(self) -> float:
        """The sum."""
        return self.s + self.c


def predicted_indices(classes: tuple[Any, ...], p: FloatArray, y_pred: Any) -> npt.NDArray[np.intp]:
    """Column index of each row's predicted class: ``y_pred``'s labels, or without them the most probable class."""
    if y_pred is None:
        return np.asarray(np.argmax(p, axis=1), dtype=np.intp)
    yp = np.asarray(y_pred)
    if yp.shape != (len(p),):
        raise bad("y_pred", f"shape {yp.shape} does not match {len(p)} rows of proba", "send one label per row")
    return class_indices(classes, yp, "y_pred")
