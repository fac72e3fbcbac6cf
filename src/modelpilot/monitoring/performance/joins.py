"""The records of label joining: what the joiner holds while it waits, what it hands out, and whether a label fits.

A prediction waits for its label as a :class:`Pending`, a label for its predictions as a :class:`PendingLabel`
(``PENDING_FIELDS`` and ``LABEL_FIELDS`` name what their JSON state holds). :func:`label_rows` fits a label to a
prediction's rows (one value each, a known class for a classifier, a finite number for a regressor) or names why it
does not fit, one of :data:`INVALID_REASONS`; a fitting label becomes a :class:`Joined`.

Example:
    >>> import numpy as np
    >>> p = Pending("credit", 3, "stable", 10.0, 10.0, np.array(["no", "yes"]), None, ("no", "yes"))
    >>> label_rows(["yes", "yes"], p)
    (array(['yes', 'yes'], dtype='<U3'), None)
    >>> label_rows(["yes"], p), label_rows(["maybe", "no"], p)
    ((None, 'rows'), (None, 'unknown_class'))
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
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
]

#: Why a label could not be used for a prediction (bounded, so each can be a metric label).
INVALID_REASONS = ("rows", "unknown_class", "not_numeric", "missing", "model")


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON-ready Python: arrays and tuples as lists, numpy scalars as Python ones."""
    if isinstance(value, np.ndarray | tuple):
        return list(value) if isinstance(value, tuple) else value.tolist()
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True, slots=True)
class Joined:
    """One variant's prediction with its label: ``label`` holds one value per row, in ``prediction``'s order."""

    request_id: str
    model: str
    version: int
    variant: str
    prediction: npt.NDArray[Any]
    probabilities: npt.NDArray[np.float64] | None
    classes: tuple[Any, ...] | None
    label: npt.NDArray[Any]
    prediction_time: float
    label_time: float

    @property
    def delay_s(self) -> float:
        """Label time minus prediction time."""
        return self.label_time - self.prediction_time


@dataclass(slots=True)
class Pending:
    """A variant's prediction of a request, waiting for its label (``arrived``: when it reached the joiner)."""

    model: str
    version: int
    variant: str
    time: float
    arrived: float
    prediction: npt.NDArray[Any]
    probabilities: npt.NDArray[np.float64] | None
    classes: tuple[Any, ...] | None

    @property
    def key(self) -> tuple[str, int, str]:
        """``(model, version, variant)``: whose prediction this is."""
        return (self.model, self.version, self.variant)


@dataclass(slots=True)
class PendingLabel:
    """A request's label, waiting for (more) predictions, and what happened to it so far."""

    label: Any
    time: float
    arrived: float
    model: str | None
    late: bool = False
    matched: bool = False
    delay_recorded: bool = False
    joined: set[tuple[str, int, str]] = field(default_factory=set)


#: Fields of a :class:`Pending` in its JSON state (the prediction's dtype is stored beside them).
PENDING_FIELDS = ("model", "version", "variant", "time", "arrived", "prediction", "probabilities", "classes")
#: Fields of a :class:`PendingLabel` in its JSON state (``joined`` is stored beside them, as a list).
LABEL_FIELDS = ("label", "time", "arrived", "model", "late", "matched", "delay_recorded")


def label_rows(label: Any, p: Pending) -> tuple[npt.NDArray[Any] | None, str | None]:
    """The label as one value per row for ``p``, or the reason it does not fit."""
    rows = len(p.prediction)
    raw = label.tolist() if isinstance(label, np.ndarray) else label
    values = [jsonable(v) for v in raw] if isinstance(raw, list | tuple) else [jsonable(raw)] if rows == 1 else None
    if values is None or len(values) != rows or any(isinstance(v, list | tuple | dict) for v in values):
        return None, "rows"
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
        return None, "missing"
    if p.classes is not None:
        index = {c: c for c in p.classes}
        if not all(v in index for v in values):
            return None, "unknown_class"
        return np.asarray([index[v] for v in values]), None
    if p.prediction.dtype.kind in "OUSb":  # a classifier that gave no class list
        return np.asarray(values), None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        return None, "not_numeric"
    return np.asarray(values, dtype=np.float64), None


def _classes_json(classes: tuple[Any, ...]) -> list[Any]:
    """A prediction's class labels as JSON (the few distinct tuples of a process are converted once)."""
    try:
        return _classes_cached(classes)
    except TypeError:  # an unhashable label
        return [jsonable(c) for c in classes]


@functools.lru_cache(maxsize=256)
def _classes_cached(classes: tuple[Any, ...]) -> list[Any]:
    return [jsonable(c) for c in classes]


def pending_json(p: Pending, *, arrays: bool = False) -> dict[str, Any]:
    """A held prediction as plain JSON (its dtype beside it); ``arrays=True`` leaves numeric arrays as numpy
    arrays, for a writer that encodes them itself (orjson with ``OPT_SERIALIZE_NUMPY``: the store)."""
    pred, proba = p.prediction, p.probabilities
    return {
        "model": p.model,
        "version": jsonable(p.version),
        "variant": p.variant,
        "time": jsonable(p.time),
        "arrived": jsonable(p.arrived),
        "prediction": pred if arrays and pred.dtype.kind in "biuf" else pred.tolist(),
        "probabilities": None if proba is None else proba if arrays and proba.dtype.kind == "f" else proba.tolist(),
        "classes": None if p.classes is None else _classes_json(p.classes),
        "dtype": pred.dtype.str,
    }


def pending_from(d: Mapping[str, Any]) -> Pending:
    """Back from :func:`pending_json`."""
    p = Pending(**{f: d[f] for f in PENDING_FIELDS})
    p.prediction = np.asarray(d["prediction"], dtype=np.dtype(d["dtype"]))
    p.probabilities = None if d["probabilities"] is None else np.asarray(d["probabilities"], dtype=float)
    p.classes = None if d["classes"] is None else tuple(d["classes"])
    return p


def label_json(r: PendingLabel) -> dict[str, Any]:
    """A held label as plain JSON."""
    return {**{f: getattr(r, f) for f in LABEL_FIELDS}, "joined": sorted(list(k) for k in r.joined)}


def label_from(d: Mapping[str, Any]) -> PendingLabel:
    """Back from :func:`label_json`."""
    r = PendingLabel(**{f: d[f] for f in LABEL_FIELDS})
    r.joined = {(m, int(v), var) for m, v, var in d["joined"]}
    return r
