"""Kafka messages of modelpilot's events: the topic of each kind, the key, and the CloudEvent in the value.

A message's key is the model name (one model's events stay in order on one partition); its value is a
structured-mode CloudEvent (JSON) with the extensions ``modelversion``, ``variant`` and ``partitionkey``, or an
``io.modelpilot.inference.batch`` CloudEvent holding many inference events of one model as an Arrow stream
(:mod:`modelpilot.events.columnar`). Readers also take binary-mode CloudEvents (attributes in ``ce_*`` headers),
the way a Knative KafkaSink writes KServe's logger events by default (:func:`from_message`).

    >>> key, value = encode(LabelEvent(request_id="r1", label=1, time=0.0, model="credit"))
    >>> decode(value).request_id, key
    ('r1', b'credit')
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from modelpilot.errors import InvalidInputError
from modelpilot.events.cloudevents import CloudEvent, events_of, from_cloudevent, to_cloudevent
from modelpilot.events.columnar import batch_cloudevent
from modelpilot.events.model import AlarmEvent, Event, InferenceEvent, LabelEvent

__all__ = [
    "MAX_MESSAGE_BYTES",
    "KafkaTopics",
    "binary",
    "decode",
    "decode_many",
    "encode",
    "encode_batch",
    "encode_batches",
    "from_message",
    "structured",
]


@dataclass(frozen=True, slots=True)
class KafkaTopics:
    """The topic of each kind of event."""

    inference: str = "modelpilot.inference"
    feedback: str = "modelpilot.feedback"
    signals: str = "modelpilot.signals"

    def of(self, event: Event) -> str:
        """The topic an event goes to."""
        if isinstance(event, InferenceEvent):
            return self.inference
        if isinstance(event, LabelEvent):
            return self.feedback
        return self.signals

    @property
    def all(self) -> tuple[str, ...]:
        """Every topic."""
        return (self.inference, self.feedback, self.signals)


def _model_of(event: Event) -> str:
    if isinstance(event, InferenceEvent):
        return event.model
    if isinstance(event, LabelEvent):
        return event.model or event.request_id
    body: Mapping[str, Any] = event.alarm if isinstance(event, AlarmEvent) else event.alert
    return str(body.get("model") or "")


def encode(event: Event, *, source: str = "modelpilot") -> tuple[bytes, bytes]:
    """``(key, value)``: the model name, and the structured CloudEvent with modelpilot's extensions.

    >>> from modelpilot.events.model import LabelEvent
    >>> key, value = encode(LabelEvent(request_id="r1", label=1, time=0.0, model="credit"))
    >>> key, orjson.loads(value)["type"], orjson.loads(value)["partitionkey"]
    (b'credit', 'io.modelpilot.label', 'credit')
    """
    ce = to_cloudevent(event, source=source)
    model = _model_of(event)
    ce["partitionkey"] = model
    if isinstance(event, InferenceEvent):
        ce["modelversion"] = str(event.version)
        ce["variant"] = event.variant
    return model.encode(), orjson.dumps(ce, option=orjson.OPT_SERIALIZE_NUMPY)


def encode_batch(events: Sequence[InferenceEvent], *, source: str = "modelpilot") -> tuple[bytes, bytes]:
    """``(key, value)`` of one message holding inference events of one model and layout (an
    ``io.modelpilot.inference.batch`` CloudEvent); ``ValueError`` when they cannot share one."""
    ce = batch_cloudevent(events, source=source)
    model = events[0].model
    ce["partitionkey"] = model
    return model.encode(), orjson.dumps(ce)


MAX_MESSAGE_BYTES = 900_000
"""Largest batch message :func:`encode_batches` makes by default: under librdkafka's and the brokers' default
``message.max.bytes`` (1,000,000), with room for the envelope."""


def encode_batches(
    events: Sequence[InferenceEvent], *, source: str = "modelpilot", max_bytes: int = MAX_MESSAGE_BYTES
) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` of messages holding ``events`` (one model and layout) in order, each batch under
    ``max_bytes`` (a batch that is too big is cut in parts of equal event counts; one event that is too big on its
    own goes as it is, for the broker to refuse and the bus to count). ``ValueError`` as :func:`encode_batch`.

    >>> import numpy as np
    >>> evs = [InferenceEvent(f"r{i}", 0.0, "m", 1, "stable", {"x": np.zeros(1000)}, None, 0.0, 200) for i in range(40)]
    >>> parts = encode_batches(evs, max_bytes=200_000)
    >>> len(parts) > 1 and all(len(v) <= 200_000 for _, v in parts)
    True
    """
    key, value = encode_batch(events, source=source)
    if len(value) <= max_bytes or len(events) == 1:
        return [(key, value)]
    parts = min(len(events), -(-len(value) // max_bytes) + 1)  # a little more than needed: sizes vary
    step = -(-len(events) // parts)
    out: list[tuple[bytes, bytes]] = []
    for i in range(0, len(events), step):
        out += encode_batches(events[i : i + step], source=source, max_bytes=max_bytes)
    return out


def structured(value: bytes) -> CloudEvent:
    """The structured-mode CloudEvent in a message value (binary data in ``data_base64``); InvalidInputError
    names what is wrong."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"message: not JSON ({exc})", hint="send structured CloudEvents") from None
    if not isinstance(doc, dict) or "type" not in doc:
        raise InvalidInputError("message: not a structured CloudEvent", hint="give it type and data")
    if "data" in doc:
        return CloudEvent({k: v for k, v in doc.items() if k != "data"}, doc["data"])
    if "data_base64" in doc:
        raw = doc.pop("data_base64")
        try:
            return CloudEvent(doc, base64.b64decode(raw, validate=True))
        except (TypeError, ValueError, binascii.Error):
            raise InvalidInputError("message.data_base64: not base64", hint="standard base64, padded") from None
    raise InvalidInputError("message: a CloudEvent without data", hint="give it data or data_base64")


Headers = Mapping[str, bytes | str | None] | Sequence[tuple[str, bytes | str | None]]
"""A message's headers, as confluent-kafka gives or takes them."""


def binary(headers: Headers, value: bytes) -> CloudEvent | None:
    """The binary-mode CloudEvent of a message (attributes in ``ce_*`` headers, the data as the value, as a
    Knative KafkaSink writes by default), or ``None`` if the headers do not make one."""
    attrs: dict[str, Any] = {}
    ctype = ""
    for key, raw in headers.items() if isinstance(headers, Mapping) else headers:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else (raw or "")
        if key.startswith("ce_"):
            attrs[key[3:]] = text
        elif key.lower() == "content-type":
            ctype = text
    if not attrs.get("type"):
        return None
    if not attrs.get("id"):
        raise InvalidInputError("message: header ce_id missing", hint="binary-mode CloudEvents need ce_id and ce_type")
    if ctype and "json" not in ctype:
        return CloudEvent(attrs, value, len(value))
    try:
        return CloudEvent(attrs, orjson.loads(value) if value else None, len(value))
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"message: data not JSON ({exc})", hint="send JSON data or set content-type") from None


def from_message(value: bytes, headers: Headers | None) -> CloudEvent:
    """The CloudEvent of a message in binary (``ce_*`` headers) or structured mode."""
    if headers:
        found = binary(headers, value)
        if found is not None:
            return found
    return structured(value)


def decode(value: bytes) -> Event:
    """An event from a message value written by :func:`encode`; InvalidInputError names what is wrong."""
    return from_cloudevent(structured(value))


def decode_many(value: bytes) -> list[Event]:
    """The events of a message written by :func:`encode` or :func:`encode_batch`."""
    return events_of(structured(value))
