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

import math
import time as _time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from modelpilot.errors import InvalidInputError
from modelpilot.ids import MAX_ID_CHARS, bounded_id, version_number

__all__ = [
    "AlarmEvent",
    "Event",
    "InferenceEvent",
    "LabelEvent",
    "SloAlertEvent",
    "Variant",
    "check_label",
]

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


def _array(values: Any) -> npt.NDArray[Any]:
    """A JSON list as a column: numbers (``None`` → NaN) as float64 or int64, anything else as objects.

    The types present are read once at C speed (``set(map(type, ...))``); numpy converts the common all-int and
    all-float lists in one call.
    """
    if not isinstance(values, list):
        values = [values]
    types = set(map(type, values))
    if types <= {int}:  # an empty list too
        return np.asarray(values, dtype=np.int64)
    if types <= {int, float}:
        return np.asarray(values, dtype=np.float64)
    if types <= {int, float, type(None)}:
        return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.asarray(values, dtype=object)


MAX_CLASSES = 10_000
MAX_LABEL_VALUES = 100_000
"""Most values one label may hold (one per row of its request)."""


def check_label(label: Any, where: str) -> None:
    """A label is a scalar (number, string, boolean) or a flat list of them, at most MAX_LABEL_VALUES long."""
    values = label if isinstance(label, list) else [label]
    if len(values) > MAX_LABEL_VALUES:
        raise InvalidInputError(f"{where}: {len(values):,} values", hint=f"at most {MAX_LABEL_VALUES:,}, one per row")
    for v in values:
        if not isinstance(v, int | float | str | bool) or (isinstance(v, str) and len(v) > MAX_ID_CHARS):
            raise InvalidInputError(
                f"{where}: values must be numbers, strings or booleans",
                hint=f"one value per row of the request, strings at most {MAX_ID_CHARS} characters",
            )


def _probabilities(value: Any, prediction: npt.NDArray[Any] | None) -> npt.NDArray[np.float64] | None:
    if value is None:
        return None
    try:
        proba = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInputError(
            "inference event.probabilities: expected rows of numbers", hint="[[p0, p1], ...], one row per prediction"
        ) from None
    rows = None if prediction is None else len(prediction)
    fits = proba.ndim in (1, 2) and (rows is None or proba.shape[0] == rows)  # 1-D: the positive class's
    if not fits or (proba.ndim == 2 and proba.shape[1] > MAX_CLASSES):
        raise InvalidInputError(
            f"inference event.probabilities: shape {list(proba.shape)}",
            hint="[[p0, p1], ...]: one row per prediction, one column per class",
        )
    return proba


def _classes(value: Any) -> tuple[Any, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_CLASSES:
        raise InvalidInputError("inference event.classes: expected a list of labels", hint='e.g. [0, 1] or ["a", "b"]')
    for c in value:  # what a model's classes_ may hold: numbers, strings, booleans, None
        if c is not None and not isinstance(c, int | float | bool | str):
            raise InvalidInputError("inference event.classes: labels are numbers or strings", hint="e.g. [0, 1]")
    return tuple(value)


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

    @classmethod
    def from_dict(cls, data: Any) -> InferenceEvent:
        """Rebuild an event from :meth:`to_dict` (or JSON from outside); errors name the field.

        Everything is checked before anything is built, and sizes are bounded: ids and names at
        :data:`MAX_ID_CHARS`, versions at 1 to 2**31 - 1, ``classes`` at :data:`MAX_CLASSES`.
        """
        if not isinstance(data, Mapping):
            raise InvalidInputError("inference event: expected an object", hint="send the fields of to_dict()")
        for name in ("request_id", "model", "version"):
            if data.get(name) in (None, ""):
                raise InvalidInputError(f"inference event.{name}: missing", hint=f"every event needs {name!r}")
        request_id = bounded_id(data["request_id"], "inference event.request_id")
        model = bounded_id(data["model"], "inference event.model")
        feats = data.get("features") or {}
        if not isinstance(feats, Mapping) or not all(isinstance(v, list) for v in feats.values()):
            raise InvalidInputError(
                "inference event.features: expected {name: [values...]}", hint="one list of values per feature"
            )
        variant = data.get("variant", "stable")
        if variant not in ("stable", "canary", "shadow", "fallback"):
            raise InvalidInputError(
                f"inference event.variant: {str(variant)[:40]!r}", hint="stable, canary, shadow or fallback"
            )
        version = version_number(data["version"], "inference event.version")
        try:
            time = float(data["time"]) if data.get("time") is not None else _time.time()
            latency = float(data.get("latency_s") or 0.0)
            status = int(data.get("status", 200))
        except (TypeError, ValueError, OverflowError):
            raise InvalidInputError(
                "inference event: time and latency_s must be numbers, status an integer", hint="e.g. status: 200"
            ) from None
        if not math.isfinite(time) or not math.isfinite(latency):
            raise InvalidInputError("inference event.time/latency_s: not a finite number", hint="seconds")
        features = {str(k): _array(v) for k, v in feats.items()}  # names as the model's signature has them
        prediction = None if data.get("prediction") is None else _array(data["prediction"])
        return cls(
            request_id=request_id,
            time=time,
            model=model,
            version=version,
            variant=variant,
            features=features,
            prediction=prediction,
            latency_s=latency,
            status=status,
            probabilities=_probabilities(data.get("probabilities"), prediction),
            classes=_classes(data.get("classes")),
            error=None if data.get("error") is None else str(data["error"])[:1000],
            protocol=str(data.get("protocol", "v2"))[:16],
        )

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

    @classmethod
    def from_dict(cls, data: Any) -> LabelEvent:
        """Rebuild a label from :meth:`to_dict` (or JSON from outside); errors name the field."""
        if not isinstance(data, Mapping) or not data.get("request_id") or data.get("label") is None:
            raise InvalidInputError("label event: request_id and label are required", hint="send both")
        try:
            time = float(data.get("time") or 0.0)
        except (TypeError, ValueError, OverflowError):
            raise InvalidInputError("label event.time: not a number", hint="seconds since the epoch") from None
        if not math.isfinite(time):
            raise InvalidInputError("label event.time: not a finite number", hint="seconds since the epoch")
        model = data.get("model")
        label = data["label"]
        check_label(label, "label event.label")
        return cls(
            bounded_id(data["request_id"], "label event.request_id"),
            label,
            time,
            None if model is None else bounded_id(model, "label event.model"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "kind": self.kind,
            "request_id": self.request_id,
            "label": self.label,
            "time": self.time,
            "model": self.model,
        }


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """An alarm transition from the monitor (drift, quality, performance) with its evidence, for the controller."""

    alarm: Mapping[str, Any]
    time: float
    kind: Literal["alarm"] = field(default="alarm", init=False)

    @property
    def request_id(self) -> str:
        """A stable id for the transition (model, version, variant, alarm kind, window)."""
        a = self.alarm
        return f"alarm/{a.get('model')}/{a.get('version')}/{a.get('variant')}/{a.get('kind')}/{a.get('window')}"

    @classmethod
    def from_dict(cls, data: Any) -> AlarmEvent:
        """Rebuild from :meth:`to_dict`."""
        if not isinstance(data, Mapping) or not isinstance(data.get("alarm"), Mapping):
            raise InvalidInputError("alarm event.alarm: expected an object", hint="send the fields of to_dict()")
        return cls(dict(data["alarm"]), float(data.get("time") or 0.0))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {"kind": self.kind, "alarm": dict(self.alarm), "time": self.time}


@dataclass(frozen=True, slots=True)
class SloAlertEvent:
    """An SLO burn-rate alert firing or resolving, for the controller.

    The in-process evaluator and the Alertmanager receiver (alerts from Prometheus evaluating the rendered rules)
    emit the same event. ``alert`` holds at least ``slo`` (the SLO id, ``<model>-<name>``), ``model``,
    ``severity`` (``page`` or ``ticket``), ``state`` (``firing`` or ``resolved``) and ``source`` (``modelpilot``
    or ``alertmanager``); the evaluator adds the burn rates and budget it saw.
    """

    alert: Mapping[str, Any]
    time: float
    kind: Literal["slo_alert"] = field(default="slo_alert", init=False)

    @property
    def request_id(self) -> str:
        """A stable id for the transition (SLO, severity, state, when it started)."""
        a = self.alert
        return f"slo/{a.get('slo')}/{a.get('severity')}/{a.get('state')}/{a.get('since')}"

    @classmethod
    def from_dict(cls, data: Any) -> SloAlertEvent:
        """Rebuild from :meth:`to_dict`."""
        if not isinstance(data, Mapping) or not isinstance(data.get("alert"), Mapping):
            raise InvalidInputError("slo alert event.alert: expected an object", hint="send the fields of to_dict()")
        try:
            time = float(data.get("time") or 0.0)
        except (TypeError, ValueError):
            raise InvalidInputError("slo alert event.time: not a number", hint="seconds since the epoch") from None
        return cls(dict(data["alert"]), time)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {"kind": self.kind, "alert": dict(self.alert), "time": self.time}


Event = InferenceEvent | LabelEvent | AlarmEvent | SloAlertEvent
