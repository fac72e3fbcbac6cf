"""Request and response messages of the stream worker (pure: bytes and headers in, bytes and headers out).

A request message's value is an Open Inference Protocol v2 inference request (``{"id": ..., "inputs": [...]}``,
JSON, or Triton's binary extension with an ``Inference-Header-Content-Length`` message header) or a v1 record
request (``{"instances": [{...}, ...]}``, with an optional ``"id"``). The response value is exactly what the HTTP
route answers for the same request, with the request id always in it.

The request id is the message's ``id``, else the message key (when it is printable ASCII), else a fresh one.

Example:
    >>> req = parse_request(b'{"instances": [{"x1": 0.5, "x2": 0.7}]}', None)
    >>> req.protocol, req.request_id, request_id_for(req, b"order-17")
    ('v1', None, 'order-17')
    >>> parse_request(b"[1, 2]", None)
    Traceback (most recent call last):
    ...
    modelpilot.errors.BadRequestError: body: expected a JSON object, got list
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy.typing as npt
import orjson

from modelpilot.errors import BadRequestError, InvalidInputError, PayloadTooLargeError
from modelpilot.protocol.oip import INFERENCE_HEADER, InferRequest, decode_infer_request, encode_infer_response
from modelpilot.protocol.signature import Signature
from modelpilot.protocol.tensors import Tensor
from modelpilot.serving.infer import Outcome, checked_request_id, new_request_id
from modelpilot.serving.inputs import batch_from_records, batch_from_tensors
from modelpilot.serving.plan import TrafficPlan, sticky_text

__all__ = [
    "REQUEST_ID_HEADER",
    "Headers",
    "StreamRequest",
    "check_outputs",
    "encode_reply",
    "header",
    "parse_request",
    "request_batch",
    "request_id_for",
    "sticky_key",
]

Headers = Sequence[tuple[str, bytes | None]] | None
"""Kafka message headers as the client hands them over (a list of ``(name, value)`` pairs, or ``None``)."""

REQUEST_ID_HEADER = "modelpilot-request-id"
"""The response header carrying the request id."""

_V1_EXAMPLE = '{"instances": [{"feature": value, ...}]}'
_BOTH = f'an OIP v2 request {{"inputs": [...]}} or v1 records {_V1_EXAMPLE}'


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """One parsed request message: the protocol, its body-level request id, and its inputs."""

    protocol: Literal["v1", "v2"]
    request_id: str | None
    oip: InferRequest | None = None
    instances: Any = None


def header(headers: Headers, name: str) -> bytes | None:
    """The value of the first header called ``name`` (case-insensitive, as HTTP headers are).

    >>> header([("X-User", b"u-7")], "x-user"), header(None, "x-user")
    (b'u-7', None)
    """
    wanted = name.lower()
    for key, value in headers or ():
        if key.lower() == wanted:
            return value
    return None


def _checked_id(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidInputError(f"id: expected a string, got {value!r:.60}", hint='give the id as a string: "id": "r1"')
    try:
        return checked_request_id(value)
    except BadRequestError as exc:
        raise InvalidInputError(exc.message, hint=exc.hint, details={"field": "id"}) from None


def parse_request(value: bytes | None, headers: Headers, *, max_bytes: int | None = None) -> StreamRequest:
    """Parse a request message; BadRequestError when it cannot be read, InvalidInputError when its content is wrong.

    >>> parse_request(b'{"id": "r1", "inputs": []}', None).protocol
    'v2'
    >>> parse_request(b'{"rows": []}', None)
    Traceback (most recent call last):
    ...
    modelpilot.errors.BadRequestError: body: expected "inputs" (OIP v2) or "instances" (v1 records)
    """
    body = value or b""
    if max_bytes is not None and len(body) > max_bytes:
        raise PayloadTooLargeError(
            f"message value is {len(body)} bytes, more than the limit of {max_bytes}",
            hint="send fewer rows per message, or raise serving.max_body_bytes",
        )
    length = header(headers, INFERENCE_HEADER)
    if length is not None:  # Triton's binary extension: a JSON header and raw tensors
        try:
            header_length = int(length)
        except ValueError:
            raise BadRequestError(
                f"{INFERENCE_HEADER}: {length!r:.40} is not a number", hint="send the byte length of the JSON part"
            ) from None
        req = decode_infer_request(body, header_length=header_length)
        return StreamRequest("v2", _checked_id(req.id), oip=req)
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"body: not valid JSON ({exc})", hint=f"send {_BOTH}") from None
    if not isinstance(doc, dict):
        raise BadRequestError(f"body: expected a JSON object, got {type(doc).__name__}", hint=f"send {_BOTH}")
    if "inputs" in doc:
        req = decode_infer_request(body)
        return StreamRequest("v2", _checked_id(req.id), oip=req)
    if "instances" in doc:
        extra = sorted(set(doc) - {"instances", "id"})
        if extra:
            raise InvalidInputError(f"body: unknown field(s) {extra}", hint='send only {"instances": [...], "id": ...}')
        return StreamRequest("v1", _checked_id(doc.get("id")), instances=doc["instances"])
    raise BadRequestError('body: expected "inputs" (OIP v2) or "instances" (v1 records)', hint=f"send {_BOTH}")


def request_id_for(req: StreamRequest, key: bytes | None) -> str:
    """The request's id: its body's ``id``, else the message key when it is a valid id, else a fresh one.

    >>> request_id_for(StreamRequest("v1", "r1"), b"k"), len(request_id_for(StreamRequest("v1", None), b"\\xff"))
    ('r1', 32)
    """
    if req.request_id is not None:
        return req.request_id
    if key:
        try:
            text = key.decode("utf-8")
            if checked_request_id(text):
                return text
        except (UnicodeDecodeError, BadRequestError):
            pass
    return new_request_id()


def sticky_key(plan: TrafficPlan, req: StreamRequest, headers: Headers) -> str | None:
    """The plan's sticky key for a request: from a message header, or the first row's value of an input field.

    Done as each HTTP route does it, so a request routes the same way whichever way it came.
    """
    if plan.sticky_header is not None:
        raw = header(headers, plan.sticky_header)
        return None if raw is None else raw.decode("utf-8", "replace")
    field = plan.sticky_field
    if field is None:
        return None
    if req.oip is not None:
        for t in req.oip.inputs:
            if t.name == field and t.data.size:
                return sticky_text(t.data.reshape(-1)[0])
        return None
    instances = req.instances
    if isinstance(instances, list) and instances:
        first = instances[0]
        if isinstance(first, dict) and first.get(field) is not None:
            return sticky_text(first[field])
    return None


def check_outputs(req: StreamRequest, classes: Sequence[Any] | None) -> None:
    """Refuse requested outputs the model does not have, before it runs (as the HTTP route does)."""
    if req.oip is None:
        return
    known = ("predict", "predict_proba") if classes is not None else ("predict",)
    for i, out in enumerate(req.oip.outputs):
        if out.name not in known:
            raise InvalidInputError(
                f"outputs[{i}] {out.name!r}: this model has no such output", hint=f"ask for one of {list(known)}"
            )


def request_batch(req: StreamRequest, signature: Signature, *, max_rows: int | None) -> dict[str, npt.NDArray[Any]]:
    """The validated feature columns of a request (errors name the field)."""
    if req.oip is not None:
        return batch_from_tensors(signature, req.oip.inputs, max_rows=max_rows)
    return batch_from_records(signature, req.instances, max_rows=max_rows)


def _plain(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def encode_reply(req: StreamRequest, outcome: Outcome, model: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The response value (the HTTP route's body) and its headers (request id, version, variant, content type)."""
    p = outcome.prediction
    headers = [
        (REQUEST_ID_HEADER, outcome.request_id.encode()),
        ("modelpilot-model-version", str(outcome.version).encode()),
        ("modelpilot-variant", outcome.variant.encode()),
    ]
    if req.oip is not None:
        outputs = [Tensor.from_array("predict", p.prediction)]
        if p.probabilities is not None:
            outputs.append(Tensor.from_array("predict_proba", p.probabilities))
        params: dict[str, Any] = {"variant": outcome.variant}
        if outcome.fallback_reason:
            params["fallback_reason"] = outcome.fallback_reason
        value, extra = encode_infer_response(
            model_name=model,
            model_version=str(outcome.version),
            request_id=outcome.request_id,
            outputs=outputs,
            parameters=params,
            requested=req.oip.outputs,
            binary_default=bool(req.oip.parameters.get("binary_data_output")),
        )
        headers.extend((k.lower(), v.encode()) for k, v in extra.items())
        return value, headers
    body: dict[str, Any] = {"predictions": _plain(p.prediction)}
    if p.probabilities is not None:
        body["probabilities"] = p.probabilities
        body["classes"] = _plain(p.classes or ())
    body.update(model_version=str(outcome.version), variant=outcome.variant, request_id=outcome.request_id)
    if outcome.fallback_reason:
        body["fallback_reason"] = outcome.fallback_reason
    headers.append(("content-type", b"application/json"))
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS), headers
