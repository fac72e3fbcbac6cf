"""CloudEvents in and out: KServe's inference-logger events from models served elsewhere, and modelpilot's own
events in CloudEvents form.

KServe's logger sends one CloudEvent for the request (type ``org.kubeflow.serving.inference.request``, data
``{"instances": ...}`` or Open Inference Protocol ``{"inputs": ...}``) and one for the response (type
``...inference.response``, data ``{"predictions": ...}`` or ``{"outputs": ...}``), with the same id and the
service's name in the ``inferenceservicename`` extension; over HTTP in *binary* mode (attributes in ``ce-*`` headers,
data as the body). :func:`parse_http` reads binary, structured (``application/cloudevents+json``) and batch
(``application/cloudevents-batch+json``) bodies; :class:`KServePairs` joins each request with its response into one
:class:`~modelpilot.events.model.InferenceEvent`. modelpilot's own events use the types ``io.modelpilot.inference``
and ``io.modelpilot.label`` with the event's JSON as data (:func:`to_cloudevent`, :func:`from_cloudevent`), and
``io.modelpilot.inference.batch`` for many inference events of one model as an Arrow stream in ``data_base64``
(:mod:`modelpilot.events.columnar`; :func:`events_of` reads both).

Example:
    >>> ce = parse_http({"ce-id": "r1", "ce-type": KSERVE_REQUEST, "ce-specversion": "1.0", "ce-source": "x",
    ...                  "ce-inferenceservicename": "credit"}, b'{"instances": [{"age": 31}, {"age": 45}]}')
    >>> pairs = KServePairs(lambda model: ["age"])
    >>> pairs.add(ce[0]) is None
    True
    >>> ev = pairs.add(CloudEvent({"id": "r1", "type": KSERVE_RESPONSE, "inferenceservicename": "credit"},
    ...                           {"predictions": [0, 1]}))
    >>> ev.model, ev.features["age"].tolist(), ev.prediction.tolist()
    ('credit', [31, 45], [0, 1])
"""

from __future__ import annotations

import base64
import binascii
import time as _time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import numpy as np
import numpy.typing as npt
import orjson

from modelpilot.errors import InvalidInputError
from modelpilot.events.columnar import MODELPILOT_INFERENCE_BATCH, from_arrow
from modelpilot.events.model import AlarmEvent, Event, InferenceEvent, LabelEvent, SloAlertEvent
from modelpilot.ids import bounded_id, version_number

__all__ = [
    "KSERVE_REQUEST",
    "KSERVE_RESPONSE",
    "MODELPILOT_ALARM",
    "MODELPILOT_INFERENCE",
    "MODELPILOT_INFERENCE_BATCH",
    "MODELPILOT_LABEL",
    "MODELPILOT_SLO_ALERT",
    "CloudEvent",
    "KServePairs",
    "events_of",
    "from_cloudevent",
    "parse_http",
    "to_cloudevent",
]

KSERVE_REQUEST = "org.kubeflow.serving.inference.request"
KSERVE_RESPONSE = "org.kubeflow.serving.inference.response"
MODELPILOT_INFERENCE = "io.modelpilot.inference"
MODELPILOT_LABEL = "io.modelpilot.label"
MODELPILOT_ALARM = "io.modelpilot.alarm"
MODELPILOT_SLO_ALERT = "io.modelpilot.slo_alert"


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """Context attributes (``id``, ``type``, ``source``, extensions...) and the decoded JSON data."""

    attributes: Mapping[str, Any]
    data: Any
    size: int = 0  # bytes it took on the wire (bounds what waiting halves may hold)

    @property
    def id(self) -> str:
        return str(self.attributes.get("id", ""))

    @property
    def type(self) -> str:
        return str(self.attributes.get("type", ""))


def _bad(what: str, hint: str) -> InvalidInputError:
    return InvalidInputError(what, hint=hint)


def _structured(doc: Any, where: str) -> CloudEvent:
    if not isinstance(doc, dict):
        raise _bad(f"{where}: expected a CloudEvent object", "send {specversion, id, type, source, data}")
    for field in ("id", "type"):
        if not isinstance(doc.get(field), str) or not doc[field]:
            raise _bad(f"{where}.{field}: missing", f"every CloudEvent needs a string {field!r}")
    _check_specversion(doc.get("specversion"), f"{where}.specversion")
    attrs = {k: v for k, v in doc.items() if k not in ("data", "data_base64")}
    if "data_base64" in doc:
        return CloudEvent(attrs, _base64(doc["data_base64"], where))
    return CloudEvent(attrs, doc.get("data"))


def _base64(value: Any, where: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (TypeError, ValueError, binascii.Error):
        raise _bad(f"{where}.data_base64: not base64", "encode binary data with standard base64") from None


def parse_http(headers: Mapping[str, str], body: bytes) -> list[CloudEvent]:
    """The CloudEvents of one HTTP request (binary, structured or batch mode); errors name the field."""
    lower = {k.lower(): v for k, v in headers.items()}
    ctype = lower.get("content-type", "application/json").split(";")[0].strip()
    try:
        doc = orjson.loads(body) if body else None
    except orjson.JSONDecodeError as exc:
        raise _bad(f"body: not valid JSON ({exc})", "send JSON data") from None
    if ctype == "application/cloudevents-batch+json":
        if not isinstance(doc, list):
            raise _bad("body: a batch must be a JSON list of CloudEvents", "send [{...}, {...}]")
        each = len(body) // max(len(doc), 1)
        return [_sized(_structured(item, f"[{i}]"), each) for i, item in enumerate(doc)]
    if ctype == "application/cloudevents+json":
        return [_sized(_structured(doc, "body"), len(body))]
    # the HTTP binding percent-encodes header values (spaces, quotes, '%' and anything outside printable ASCII)
    attrs = {k[3:]: unquote(v) for k, v in lower.items() if k.startswith("ce-")}
    if not attrs.get("id") or not attrs.get("type"):
        raise _bad(
            "headers: ce-id and ce-type are required for a binary-mode CloudEvent",
            "send ce-id, ce-type, ce-source, ce-specversion headers (as KServe's logger does), or a structured event",
        )
    _check_specversion(attrs.get("specversion"), "headers.ce-specversion")
    return [CloudEvent(attrs, doc, len(body))]


def _check_specversion(value: Any, where: str) -> None:
    """CloudEvents 1.0 only; an event that leaves the attribute out is read as 1.0."""
    if value is not None and value != "1.0":
        raise _bad(f"{where}: {str(value)[:20]!r} is not a CloudEvents version this server reads", "send 1.0")


def _sized(ce: CloudEvent, size: int) -> CloudEvent:
    return CloudEvent(ce.attributes, ce.data, size)


def _time_of(ce: CloudEvent) -> float:
    value = ce.attributes.get("time")
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return _time.time()


def _column(values: list[Any]) -> npt.NDArray[Any]:
    """JSON values as a column: int64 for integers, float64 for numbers with a float among them, else objects
    (strings, booleans, None, integers past 64 bits, mixtures)."""
    kinds = {type(v) for v in values}
    try:
        if kinds == {int} or not kinds:
            return np.array(values, dtype=np.int64)
        if kinds == {float} or kinds == {int, float}:
            return np.array(values, dtype=np.float64)
    except OverflowError:
        pass
    return np.array(values, dtype=object)


MAX_CELLS = 1_000_000  # rows x distinct keys a request's instances may spread over (each key becomes a column)


def _instance_keys(rows: list[dict[str, Any]], names: list[str] | None, where: str) -> list[str]:
    """The columns of ``{"instances": [{...}, ...]}``: the model's features that the rows carry when its signature
    is known (other keys are not monitored), else every key, as long as rows x keys stays within MAX_CELLS (a
    request whose rows each bring keys of their own would otherwise become that many mostly empty columns)."""
    present = dict.fromkeys(k for r in rows for k in r)
    if names:
        return [n for n in names if n in present]
    for key in present:
        bounded_id(key, f"{where}.instances key")
    if len(present) * len(rows) > MAX_CELLS:
        raise _bad(
            f"{where}.instances: {len(rows):,} rows with {len(present):,} distinct keys is more than this server"
            f" takes ({MAX_CELLS:,} values)",
            "give every row the same feature names, or register the model so that its signature names them",
        )
    return [str(k) for k in present]


def _request_features(data: Any, names: list[str] | None, where: str) -> dict[str, npt.NDArray[Any]]:
    if isinstance(data, dict) and isinstance(data.get("instances"), list):
        rows = data["instances"]
        if rows and all(isinstance(r, dict) for r in rows):
            return {k: _column([r.get(k) for r in rows]) for k in _instance_keys(rows, names, where)}
        if rows and all(isinstance(r, list) for r in rows):
            if not names:
                raise _bad(f"{where}: positional instances need the model's signature", "register the model first")
            if any(len(r) != len(names) for r in rows):
                raise _bad(f"{where}: rows must have {len(names)} values ({names})", "send one value per feature")
            return {n: _column([r[j] for r in rows]) for j, n in enumerate(names)}
    if isinstance(data, dict) and isinstance(data.get("inputs"), list):
        out: dict[str, npt.NDArray[Any]] = {}
        for t in data["inputs"]:
            if not isinstance(t, dict) or "name" not in t or "data" not in t:
                raise _bad(f"{where}.inputs: each input needs name and data", "send Open Inference Protocol tensors")
            values = np.asarray(t["data"]).reshape(-1) if not isinstance(t["data"], list) else t["data"]
            flat = list(np.asarray(values, dtype=object).reshape(-1))
            shape = t.get("shape") or [len(flat)]
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise _bad(f"{where}.inputs.shape: expected a list of sizes", "e.g. [2, 3]")
            if len(shape) == 2 and shape[1] > 1 and names and shape[1] == len(names):
                matrix = np.asarray(flat, dtype=object).reshape(shape)
                out.update({n: _column(list(matrix[:, j])) for j, n in enumerate(names)})
            else:
                out[str(t["name"])] = _column(flat)
        return out
    raise _bad(f"{where}: expected {{'instances': [...]}} or {{'inputs': [...]}}", "send the model's request payload")


def _response_outputs(data: Any, where: str) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64] | None]:
    if isinstance(data, dict) and isinstance(data.get("predictions"), list):
        preds = data["predictions"]
        if preds and all(isinstance(p, list) for p in preds):  # probabilities (predict_proba)
            proba = np.asarray(preds, dtype=np.float64)
            return np.argmax(proba, axis=1), proba
        return _column(preds), None
    if isinstance(data, dict) and isinstance(data.get("outputs"), list) and data["outputs"]:
        first = data["outputs"][0]
        if isinstance(first, dict) and isinstance(first.get("data"), list):
            return _column(first["data"]), None
    raise _bad(f"{where}: expected {{'predictions': [...]}} or {{'outputs': [...]}}", "send the model's response")


class KServePairs:
    """Joins KServe request and response events by id into inference events, in bounded memory.

    Parameters
    ----------
    feature_names
        The signature's feature names of a model (for positional ``instances``), or ``None`` when unknown.
    max_pending, max_pending_bytes, ttl_s
        Halves waiting for their other half: at most this many, holding at most this many bytes, for at most this
        long; beyond any bound the oldest are dropped and counted in ``dropped``.
    version_of
        The version an event of a model is attributed to (default 1); an ``modelversion`` extension wins.
    clock
        Seconds (for the waiting time).
    """

    def __init__(
        self,
        feature_names: Callable[[str], list[str] | None],
        *,
        max_pending: int = 10_000,
        max_pending_bytes: int = 64 * 1024 * 1024,
        ttl_s: float = 300.0,
        version_of: Callable[[str], int] = lambda model: 1,
        clock: Callable[[], float] = _time.monotonic,
    ) -> None:
        self.feature_names = feature_names
        self.version_of = version_of
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self.ttl_s = ttl_s
        self.clock = clock
        self._pending: OrderedDict[str, tuple[CloudEvent, float]] = OrderedDict()
        self._bytes = 0
        self.dropped = 0

    def add_all(self, events: list[CloudEvent]) -> list[InferenceEvent]:
        """Pair every event of one request, or none: when one fails to decode, nothing changes and it raises."""
        saved, saved_bytes, saved_dropped = OrderedDict(self._pending), self._bytes, self.dropped
        try:
            return [ev for ev in (self.add(ce) for ce in events) if ev is not None]
        except Exception:
            self._pending, self._bytes, self.dropped = saved, saved_bytes, saved_dropped
            raise

    def _evict(self, now: float) -> None:
        while self._pending:
            _, (oldest, since) = next(iter(self._pending.items()))
            over = len(self._pending) > self.max_pending or self._bytes > self.max_pending_bytes
            if not over and now - since < self.ttl_s:
                return
            self._pending.popitem(last=False)
            self._bytes -= oldest.size
            self.dropped += 1

    def add(self, ce: CloudEvent) -> InferenceEvent | None:
        """Hold one half; return the inference event when both halves are here (nothing changes if it raises)."""
        now = self.clock()
        held = self._pending.get(ce.id)
        if held is None or held[0].type == ce.type:
            if held is not None:
                self._bytes -= held[0].size
            self._pending[ce.id] = (ce, now)
            self._pending.move_to_end(ce.id)
            self._bytes += ce.size
            self._evict(now)
            return None
        other = held[0]
        request, response = (ce, other) if ce.type == KSERVE_REQUEST else (other, ce)
        event = self._decode(ce.id, request, response)
        del self._pending[ce.id]
        self._bytes -= other.size
        return event

    def _decode(self, ident: str, request: CloudEvent, response: CloudEvent) -> InferenceEvent:
        model = str(request.attributes.get("inferenceservicename") or response.attributes.get("inferenceservicename"))
        if not model or model == "None":
            raise _bad("inferenceservicename: missing", "send the ce-inferenceservicename extension")
        ident = bounded_id(ident, "event id")  # the same bounds as modelpilot's own events
        model = bounded_id(model, f"event {ident} inferenceservicename")
        try:
            features = _request_features(request.data, self.feature_names(model), f"event {ident} request")
            prediction, proba = _response_outputs(response.data, f"event {ident} response")
        except (TypeError, ValueError, IndexError) as exc:
            raise _bad(
                f"event {ident}: malformed payload ({exc})", "send the model's own request and response"
            ) from None
        rows = len(prediction)
        if any(len(v) != rows for v in features.values()):
            raise _bad(f"event {ident}: {rows} predictions for requests of other lengths", "pair the right events")
        declared = str(request.attributes.get("modelversion", ""))
        version = version_number(declared, f"event {ident} modelversion") if declared else self.version_of(model)
        return InferenceEvent(
            request_id=ident,
            time=_time_of(request),
            model=model,
            version=version,
            variant="stable",
            features=features,
            prediction=prediction,
            probabilities=proba,
            latency_s=max(_time_of(response) - _time_of(request), 0.0),
            status=200,
            protocol="kserve",
        )

    @property
    def pending(self) -> int:
        """Halves waiting for their other half."""
        return len(self._pending)


def to_cloudevent(event: Event, *, source: str = "modelpilot") -> dict[str, Any]:
    """A structured-mode CloudEvent (JSON) of one of modelpilot's events."""
    if isinstance(event, InferenceEvent):
        kind, ident = MODELPILOT_INFERENCE, f"{event.request_id}/{event.variant}"
    elif isinstance(event, LabelEvent):
        kind, ident = MODELPILOT_LABEL, event.request_id
    elif isinstance(event, SloAlertEvent):
        kind, ident = MODELPILOT_SLO_ALERT, event.request_id
    else:
        kind, ident = MODELPILOT_ALARM, event.request_id
    return {
        "specversion": "1.0",
        "id": ident,
        "type": kind,
        "source": source,
        "time": datetime.fromtimestamp(event.time).astimezone().isoformat(),
        "datacontenttype": "application/json",
        "data": event.to_dict(),
    }


def events_of(ce: CloudEvent) -> list[Event]:
    """The events of one of modelpilot's CloudEvents: one, or the many of an ``io.modelpilot.inference.batch``."""
    if ce.type == MODELPILOT_INFERENCE_BATCH:
        if not isinstance(ce.data, bytes):
            raise _bad(f"event {ce.id}: a batch's data must be binary", "send the Arrow stream in data_base64")
        return list(from_arrow(ce.data))
    return [from_cloudevent(ce)]


def from_cloudevent(ce: CloudEvent) -> Event:
    """One of modelpilot's events from its CloudEvent (types ``io.modelpilot.inference`` / ``io.modelpilot.label``)."""
    if ce.type == MODELPILOT_LABEL:
        return LabelEvent.from_dict(ce.data)
    if ce.type == MODELPILOT_INFERENCE:
        return InferenceEvent.from_dict(ce.data)
    if ce.type == MODELPILOT_ALARM:
        return AlarmEvent.from_dict(ce.data)
    if ce.type == MODELPILOT_SLO_ALERT:
        return SloAlertEvent.from_dict(ce.data)
    raise _bad(f"event {ce.id}: type {ce.type!r} is not one of modelpilot's", "use io.modelpilot.inference or label")
