"""The event model: one record per inference (request or shadow call) and per label.

Events are what the monitor consumes and what the Kafka bus carries. They hold the batch's feature columns as numpy
arrays (no per-value conversion on the serving hot path); :meth:`InferenceEvent.to_dict` turns them into plain JSON
types when an event leaves the process.

Example:
    >>> import numpy as np
    >>> ev = InferenceEvent(request_id="r1", time=0.0, model="credit", version=2, variant="stable",
    ...                     features={"age": np.array([31, 45])}, prediction=np.array([0, 1]),
    ...                     latency_s=0.002, status=200)
    >>> ev.rows, ev.to_dict()["features"]
    (2, {'age': [31, 45]})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = ["Event", "InferenceEvent", "LabelEvent", "Variant"]

Variant = Literal["stable", "canary", "shadow", "fallback"]


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "M":
            return [None if np.isnat(v) else str(v) for v in value]
        if value.dtype.kind == "f":
            return [None if np.isnan(v) else float(v) for v in value.ravel()] if value.ndim == 1 else value.tolist()
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True, slots=True)
class InferenceEvent:
    """One model call as the caller (or the shadow queue) saw it.

    Parameters
    ----------
    request_id
        The request id; a shadow call carries its primary request's id, so the two pair up.
    time
        When the request arrived, seconds since the epoch (UTC).
    model, version, variant
        Which version answered and in which role.
    features
        The inputs as named columns (one array per feature, one value per row).
    prediction
        One prediction per row (``None`` when the call failed).
    probabilities
        Class probabilities ``(rows, classes)`` when the model is a classifier.
    classes
        Class labels in the column order of ``probabilities``.
    latency_s
        Time spent answering, in seconds.
    status
        The HTTP status the call ended with (200 for success).
    error
        The error message when the call failed.
    protocol
        ``v2`` (Open Inference Protocol), ``v1`` (record route) or ``shadow``.
    """

    request_id: str
    time: float
    model: str
    version: int
    variant: Variant
    features: Mapping[str, npt.NDArray[Any]]
    prediction: npt.NDArray[Any] | None
    latency_s: float
    status: int
    probabilities: npt.NDArray[np.float64] | None = None
    classes: tuple[Any, ...] | None = None
    error: str | None = None
    protocol: str = "v2"
    kind: Literal["inference"] = field(default="inference", init=False)

    @property
    def rows(self) -> int:
        """Rows in the request."""
        for column in self.features.values():
            return len(column)
        return 0 if self.prediction is None else len(self.prediction)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (lists, numbers, strings, ``None`` for missing values)."""
        return {
            "kind": self.kind,
            "request_id": self.request_id,
            "time": self.time,
            "model": self.model,
            "version": self.version,
            "variant": self.variant,
            "features": {k: _plain(v) for k, v in self.features.items()},
            "prediction": None if self.prediction is None else _plain(self.prediction),
            "probabilities": None if self.probabilities is None else _plain(self.probabilities),
            "classes": None if self.classes is None else [_plain(c) for c in self.classes],
            "latency_s": self.latency_s,
            "status": self.status,
            "error": self.error,
            "protocol": self.protocol,
        }


@dataclass(frozen=True, slots=True)
class LabelEvent:
    """The true outcome of an earlier request, joined to it by ``request_id``."""

    request_id: str
    label: Any
    time: float
    model: str | None = None
    kind: Literal["label"] = field(default="label", init=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "kind": self.kind,
            "request_id": self.request_id,
            "label": self.label,
            "time": self.time,
            "model": self.model,
        }


Event = InferenceEvent | LabelEvent
