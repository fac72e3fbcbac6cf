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

from modelpilot.monitoring.performance.metric_math import (
    NeumaierSum,
    auc_from_histograms,
    bad,
    check_proba,
    class_indices,
    metrics_from_confusion,
    plain,
    row_vector,
    sample_sizes,
    sorted_classes,
)

__all__ = ["LOG_LOSS_EPS", "ClassificationAccumulator", "RegressionAccumulator"]

#: Probabilities are clipped to [LOG_LOSS_EPS, 1] before the log, so one confident mistake costs ~34.5, not infinity.
LOG_LOSS_EPS = 1e-15


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
            raise bad("bins", f"{bins!r} is not an integer in [10, 100000]", "use the default of 1000")
        if classes is not None:
            cls = tuple(plain(c) for c in classes)
            if len(cls) < 1 or len(set(cls)) != len(cls):
                raise bad("classes", f"{list(cls)} must be distinct and not empty", "pass each class once")
            if positive is not None and plain(positive) not in cls:
                raise bad("positive", f"{positive!r} is not among the classes {list(cls)}", "pick one of them")
            sorted_classes(cls, "classes")
        self._fixed = classes is not None
        self._given = cls if classes is not None else None
        self.positive = plain(positive)
        self.bins = bins
        self._reset()

    def _reset(self) -> None:
        self._classes: tuple[Any, ...] | None = self._given
        k = 0 if self._classes is None else len(self._classes)
        self._cm = np.zeros((k, k), dtype=np.int64)
        self._hist_pos = np.zeros((k, self.bins), dtype=np.int64)
        self._hist_all = np.zeros((k, self.bins), dtype=np.int64)
        self._n_proba = 0
        self._log_loss = NeumaierSum()

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
            raise bad(field, f"new classes {list(classes)} after probabilities were recorded", "pass classes=")
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
        yt, yp = row_vector(y_true, "y_true"), row_vector(y_pred, "y_pred")
        if len(yp) != len(yt):
            raise bad("y_pred", f"{len(yp)} values for {len(yt)} labels", "send one prediction per label")
        if len(yt) == 0:
            return self
        if not self._fixed:
            try:
                seen = sorted_classes([*np.unique(yt).tolist(), *np.unique(yp).tolist()], "y_true")
            except TypeError as exc:
                raise bad("y_true", "labels of mixed types cannot be ordered", "use labels of one type") from exc
            if not set(seen) <= set(self._classes or ()):
                self._reindex(sorted_classes([*seen, *(self._classes or ())], "y_true"))
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
        takes (see :func:`~modelpilot.monitoring.performance.metric_math.sample_sizes`). For ``roc_auc``, the smaller
        of positives and negatives: the variance of an AUC is at most AUC(1 - AUC) / min(positives, negatives)
        (Birnbaum & Klose, 1957)."""
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
            raise bad("other", f"cannot merge {type(other).__name__}", "merge two ClassificationAccumulators")
        if (self.bins, self.positive) != (other.bins, other.positive):
            raise bad("other", "bins or positive class differ", "merge accumulators built with the same settings")
        a, b = (
            ClassificationAccumulator.from_state(self.to_state()),
            ClassificationAccumulator.from_state(other.to_state()),
        )
        if a._fixed or b._fixed:
            if a._fixed and b._fixed and a._classes != b._classes:
                raise bad("other", f"classes {b._classes} differ from {a._classes}", "merge windows of one model")
            target = a._classes if a._fixed else b._classes
        else:
            target = sorted_classes([*(a._classes or ()), *(b._classes or ())], "classes") or None
        for acc in (a, b):
            if target is not None and not set(acc._classes or ()) <= set(target):
                raise bad("other", f"classes {acc._classes} are not among {list(target)}", "pass classes=")
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
            acc._log_loss = NeumaierSum(float(state["log_loss"][0]), float(state["log_loss"][1]))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise bad("state", f"not a classification accumulator state ({exc})", "pass what to_state() gave") from exc
        return acc


class RegressionAccumulator:
    """Count and error sums of a regressor's joined rows: ``mae``, ``rmse`` and ``mean_error`` (prediction minus
    truth; the bias). Float64 sums, compensated across batches: relative error ~1e-15 per batch."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._n = 0
        self._abs, self._sq, self._err = NeumaierSum(), NeumaierSum(), NeumaierSum()

    @property
    def n(self) -> int:
        """Rows accumulated."""
        return self._n

    def update(self, y_true: Any, y_pred: Any, proba: Any = None) -> RegressionAccumulator:
        """Add joined rows (``proba`` must be ``None``: it is there so both accumulators share one call)."""
        if proba is not None:
            raise bad("proba", "a regressor has no class probabilities", "pass proba=None")
        values = []
        for field, raw in (("y_true", y_true), ("y_pred", y_pred)):
            arr = row_vector(raw, field)
            if arr.dtype.kind not in "iuf":
                raise bad(field, f"values must be numbers, got dtype {arr.dtype}", "send numeric targets")
            arr = arr.astype(np.float64)
            if not np.isfinite(arr).all():
                raise bad(field, "values must be finite (no NaN or infinity)", "drop or fix those rows")
            values.append(arr)
        yt, yp = values
        if len(yp) != len(yt):
            raise bad("y_pred", f"{len(yp)} values for {len(yt)} labels", "send one prediction per label")
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
            raise bad("other", f"cannot merge {type(other).__name__}", "merge two RegressionAccumulators")
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
            acc._abs, acc._sq, acc._err = (
                NeumaierSum(float(state[k][0]), float(state[k][1])) for k in ("abs", "sq", "err")
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise bad("state", f"not a regression accumulator state ({exc})", "pass what to_state() gave") from exc
        return acc
