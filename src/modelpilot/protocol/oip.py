"""Open Inference Protocol v2 inference bodies: decode requests and encode responses, JSON or binary (no I/O).

With Triton's binary tensor extension a body is a JSON header of ``Inference-Header-Content-Length`` bytes
followed by the raw tensors, each announced by ``parameters.binary_data_size`` in the header.

Example:
    >>> req = decode_infer_request(b'{"id": "r1", "inputs": [{"name": "x", "datatype": "FP32", '
    ...                            b'"shape": [1, 2], "data": [[0.5, 2]]}]}')
    >>> req.id, req.input("x").data.tolist()
    ('r1', [[0.5, 2.0]])
    >>> out = Tensor.from_array("y", np.array([1], dtype=np.int64))
    >>> body, headers = encode_infer_response(model_name="m", model_version="3", request_id=req.id, outputs=[out])
    >>> headers
    {'Content-Type': 'application/json'}
    >>> print(body.decode())
    {"model_name":"m","model_version":"3","id":"r1","outputs":[{"name":"y","datatype":"INT64","shape":[1],"data":[1]}]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import orjson

from modelpilot.errors import BadRequestError, InvalidInputError
from modelpilot.protocol.tensors import (
    DATATYPES,
    Tensor,
    decode_binary_data,
    decode_json_data,
    encode_binary_data,
    to_json_data,
)

__all__ = [
    "INFERENCE_HEADER",
    "InferRequest",
    "RequestedOutput",
    "decode_infer_request",
    "encode_infer_response",
]

INFERENCE_HEADER = "Inference-Header-Content-Length"
_JSON = {"Content-Type": "application/json"}
_SHM = ("shared_memory_region", "shared_memory_byte_size", "shared_memory_offset")
_ONE_OF_DATATYPES = f"one of {', '.join(DATATYPES)}"
_EXAMPLE = '{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 2.0]}]}'


def _empty_params() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    """An output the client asked for; ``binary_data`` is ``None`` when it did not say how to send it."""

    name: str
    binary_data: bool | None = None
    parameters: Mapping[str, Any] = field(default_factory=_empty_params)


@dataclass(frozen=True, slots=True)
class InferRequest:
    """A decoded inference request: its id, input tensors (in request order), requested outputs and parameters."""

    id: str | None
    inputs: tuple[Tensor, ...]
    outputs: tuple[RequestedOutput, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=_empty_params)

    def input(self, name: str) -> Tensor:
        """The input called ``name``; raises :class:`~modelpilot.errors.InvalidInputError` when it was not sent."""
        for tensor in self.inputs:
            if tensor.name == name:
                return tensor
        sent = [t.name for t in self.inputs]
        raise InvalidInputError(
            f"inputs: no input named {name!r} (the request sent {sent})",
            hint=f"add an input named {name!r} to the request's inputs",
            details={"missing": name, "sent": sent},
        )


def _parameters(where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInputError(
            f"{where}.parameters: expected a JSON object, got {type(value).__name__}",
            hint='give parameters as an object, e.g. {"binary_data": true}',
        )
    for key in _SHM:
        if key in value:
            raise InvalidInputError(
                f"{where}.parameters.{key}: shared-memory tensors are not supported",
                hint="send the data inline in JSON or as binary data after the JSON header",
            )
    return value


def _flag(where: str, params: Mapping[str, Any], key: str) -> bool | None:
    value = params.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise InvalidInputError(
        f"{where}.parameters.{key}: expected true or false, got {value!r}", hint="use true or false"
    )


def _field(where: str, obj: Mapping[str, Any], key: str, kinds: type | tuple[type, ...], expected: str) -> Any:
    if key not in obj:
        raise InvalidInputError(f"{where}: missing {key!r}", hint=f"give {key!r} as {expected}; e.g. {_EXAMPLE}")
    value = obj[key]
    if not isinstance(value, kinds) or isinstance(value, bool) or (isinstance(value, str) and not value):
        raise InvalidInputError(
            f"{where}.{key}: expected {expected}, got {value!r:.60}", hint=f"give {key!r} as {expected}"
        )
    return value


def _decode_input(i: int, obj: Any, binary: memoryview | None, offset: int) -> tuple[Tensor, int]:
    where = f"inputs[{i}]"
    if not isinstance(obj, dict):
        raise InvalidInputError(f"{where}: expected a JSON object, got {type(obj).__name__}", hint=f"e.g. {_EXAMPLE}")
    name = _field(where, obj, "name", str, "a non-empty string")
    where = f"{where} {name!r}"
    datatype = _field(where, obj, "datatype", str, _ONE_OF_DATATYPES)
    shape = _field(where, obj, "shape", list, "a list of non-negative integers")
    params = _parameters(where, obj.get("parameters"))
    size = params.get("binary_data_size")
    try:
        if size is None:
            if "data" not in obj:
                raise InvalidInputError(
                    f"{where}: missing 'data'",
                    hint="give 'data' as a list of values in row-major order, or send the tensor as binary data",
                )
            array = decode_json_data(name, datatype, shape, obj["data"])
        else:
            if type(size) is not int or size < 0:
                raise InvalidInputError(
                    f"{where}.parameters.binary_data_size: expected a non-negative integer, got {size!r}",
                    hint="set binary_data_size to the byte length of this tensor's binary data",
                )
            if "data" in obj:
                raise InvalidInputError(
                    f"{where}: has both 'data' and parameters.binary_data_size",
                    hint="send the tensor either inline as 'data' or as binary data, not both",
                )
            if binary is None:
                raise BadRequestError(
                    f"{where}.parameters.binary_data_size: binary data announced but no {INFERENCE_HEADER} was sent",
                    hint=f"send the {INFERENCE_HEADER} header with the byte length of the JSON part of the body",
                )
            if offset + size > len(binary):
                raise BadRequestError(
                    f"{where}.parameters.binary_data_size: needs {size} bytes at offset {offset} of the binary "
                    f"section, which holds only {len(binary)}",
                    hint=f"check {INFERENCE_HEADER} and each input's binary_data_size",
                )
            array = decode_binary_data(name, datatype, shape, binary[offset : offset + size])
            offset += size
    except InvalidInputError as exc:
        if exc.message.startswith(where):
            raise
        raise InvalidInputError(f"inputs[{i}] {exc.message}", hint=exc.hint, details=exc.details) from exc
    tensor = Tensor(name, datatype, tuple(array.shape), array, MappingProxyType(params))
    return tensor, offset


def _decode_output(i: int, obj: Any) -> RequestedOutput:
    where = f"outputs[{i}]"
    if not isinstance(obj, dict):
        raise InvalidInputError(f"{where}: expected a JSON object, got {type(obj).__name__}", hint='e.g. {"name": "y"}')
    name = _field(where, obj, "name", str, "a non-empty string")
    where = f"{where} {name!r}"
    params = _parameters(where, obj.get("parameters"))
    return RequestedOutput(name, _flag(where, params, "binary_data"), MappingProxyType(params))


def _unique(kind: str, names: list[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise InvalidInputError(
                f"{kind}[{i}] {name!r}: duplicate {kind[:-1]} name", hint=f"give each {kind[:-1]} a distinct name"
            )
        seen.add(name)


def decode_infer_request(
    body: bytes, *, header_length: int | None = None, content_type: str | None = None
) -> InferRequest:
    """Decode an OIP v2 inference request body.

    With ``header_length`` (the ``Inference-Header-Content-Length`` header) the first that many bytes are the
    JSON header and the rest holds the binary inputs in input order, each ``parameters.binary_data_size`` long.
    ``content_type`` only sharpens the error for a binary body sent without that header. Raises
    :class:`~modelpilot.errors.BadRequestError` when the body cannot be parsed and
    :class:`~modelpilot.errors.InvalidInputError` when it parses but its content is wrong.
    """
    view: bytes | memoryview = body
    binary: memoryview | None = None
    if header_length is not None:
        if type(header_length) is not int or not 0 <= header_length <= len(view):
            raise BadRequestError(
                f"{INFERENCE_HEADER}: {header_length!r} is not a length within the body's {len(view)} bytes",
                hint=f"set {INFERENCE_HEADER} to the byte length of the JSON part of the body",
            )
        whole = memoryview(body)
        view, binary = whole[:header_length], whole[header_length:]
    try:
        doc = orjson.loads(view)
    except orjson.JSONDecodeError as exc:
        binaryish = content_type is not None and "octet-stream" in content_type and header_length is None
        raise BadRequestError(
            f"body: not valid JSON ({exc})",
            hint=f"a binary body needs the {INFERENCE_HEADER} header"
            if binaryish
            else f"send a JSON object such as {_EXAMPLE}",
        ) from exc
    if not isinstance(doc, dict):
        raise BadRequestError(f"body: expected a JSON object, got {type(doc).__name__}", hint=f"e.g. {_EXAMPLE}")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list):
        raise BadRequestError(
            "inputs: missing" if raw_inputs is None else f"inputs: expected a list, got {type(raw_inputs).__name__}",
            hint=f"give 'inputs' as a list of tensors, e.g. {_EXAMPLE}",
        )
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInputError(
            f"id: expected a string, got {request_id!r:.60}", hint='give the id as a string: "id": "r1"'
        )
    params = _parameters("request", doc.get("parameters"))
    _flag("request", params, "binary_data_output")
    offset = 0
    inputs: list[Tensor] = []
    for i, obj in enumerate(raw_inputs):
        tensor, offset = _decode_input(i, obj, binary, offset)
        inputs.append(tensor)
    if binary is not None and offset != len(binary):
        raise BadRequestError(
            f"body: the binary section holds {len(binary)} bytes but the inputs' binary_data_size add up to {offset}",
            hint=f"check {INFERENCE_HEADER} and each input's parameters.binary_data_size",
        )
    _unique("inputs", [t.name for t in inputs])
    raw_outputs = doc.get("outputs")
    if raw_outputs is not None and not isinstance(raw_outputs, list):
        raise InvalidInputError(
            f"outputs: expected a list, got {type(raw_outputs).__name__}", hint='e.g. "outputs": [{"name": "y"}]'
        )
    outputs = tuple(_decode_output(i, obj) for i, obj in enumerate(raw_outputs or ()))
    _unique("outputs", [o.name for o in outputs])
    return InferRequest(request_id, tuple(inputs), outputs, MappingProxyType(params))


def _select(
    outputs: Sequence[Tensor], requested: Sequence[RequestedOutput], binary_default: bool
) -> list[tuple[Tensor, bool]]:
    if not requested:
        return [(t, binary_default) for t in outputs]
    by_name = {t.name: t for t in outputs}
    chosen: list[tuple[Tensor, bool]] = []
    for i, want in enumerate(requested):
        tensor = by_name.get(want.name)
        if tensor is None:
            raise InvalidInputError(
                f"outputs[{i}] {want.name!r}: the model has no output of that name",
                hint=f"request one of: {sorted(by_name)}",
            )
        chosen.append((tensor, binary_default if want.binary_data is None else want.binary_data))
    return chosen


def _json_payload(tensor: Tensor) -> Any:
    if tensor.datatype == "BYTES":
        return to_json_data(tensor)
    flat = np.ascontiguousarray(tensor.data).reshape(-1)
    return flat if flat.dtype.isnative else flat.astype(flat.dtype.newbyteorder("="))


def encode_infer_response(
    *,
    model_name: str,
    model_version: str | None,
    request_id: str | None,
    outputs: Sequence[Tensor],
    parameters: Mapping[str, Any] | None = None,
    requested: Sequence[RequestedOutput] = (),
    binary_default: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """Encode an OIP v2 inference response; returns the body and the headers to add to the HTTP response.

    Output ``i`` is sent as binary data when ``requested[i].binary_data`` is true, or when that is not given and
    ``binary_default`` (the request's ``parameters.binary_data_output``) is. When ``requested`` is non-empty only
    those outputs are returned, in that order.
    """
    doc: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        doc["model_version"] = model_version
    if request_id is not None:
        doc["id"] = request_id
    if parameters:
        doc["parameters"] = dict(parameters)
    entries: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for tensor, binary in _select(outputs, requested, binary_default):
        entry: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
        if binary:
            blob = encode_binary_data(tensor)
            blobs.append(blob)
            entry["parameters"] = {**tensor.parameters, "binary_data_size": len(blob)}
        else:
            if tensor.parameters:
                entry["parameters"] = dict(tensor.parameters)
            entry["data"] = _json_payload(tensor)
        entries.append(entry)
    doc["outputs"] = entries
    header = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, dict(_JSON)
    headers = {INFERENCE_HEADER: str(len(header)), "Content-Type": "application/octet-stream"}
    return b"".join([header, *blobs]), headers
