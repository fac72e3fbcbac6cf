"""OIP v2 inference bodies: request decoding, response encoding, and interop with Triton's reference client."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pytest
import tritonclient.http as triton
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from modelpilot.errors import BadRequestError, InvalidInputError, ModelPilotError
from modelpilot.protocol.oip import (
    INFERENCE_HEADER,
    InferRequest,
    RequestedOutput,
    decode_infer_request,
    encode_infer_response,
)
from modelpilot.protocol.tensors import DATATYPES, Tensor, encode_binary_data, to_json_data

NUMERIC = [d for d in DATATYPES if d != "BYTES"]


def _body(doc: Any, *blobs: bytes) -> tuple[bytes, int | None]:
    header = orjson.dumps(doc)
    return (header + b"".join(blobs), len(header)) if blobs else (header, None)


def _inp(name: str = "x", datatype: str = "FP32", shape: Any = (1, 2), **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(shape)}
    if "data" not in extra and "parameters" not in extra:
        doc["data"] = [0.5] * math.prod(shape)
    return {**doc, **extra}


def _same(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> bool:
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(a.tolist() == b.tolist())


# -- decoding ----------------------------------------------------------------------------------------------------


def test_decode_json_request() -> None:
    body, _ = _body(
        {
            "id": "r1",
            "parameters": {"binary_data_output": True, "tag": "a"},
            "inputs": [
                {"name": "age", "datatype": "INT64", "shape": [2, 1], "data": [[31], [45]]},
                {"name": "plan", "datatype": "BYTES", "shape": [2], "data": ["gold", "bäsic"], "parameters": {"k": 1}},
            ],
            "outputs": [{"name": "p", "parameters": {"binary_data": False}}, {"name": "q"}],
        }
    )
    req = decode_infer_request(body, content_type="application/json")
    assert req.id == "r1"
    assert dict(req.parameters) == {"binary_data_output": True, "tag": "a"}
    assert [t.name for t in req.inputs] == ["age", "plan"]
    age = req.input("age")
    assert (age.datatype, age.shape, age.data.tolist()) == ("INT64", (2, 1), [[31], [45]])
    assert age.data.dtype == np.dtype("<i8")
    plan = req.input("plan")
    assert plan.data.tolist() == [b"gold", "bäsic".encode()] and dict(plan.parameters) == {"k": 1}
    assert req.outputs == (RequestedOutput("p", False, {"binary_data": False}), RequestedOutput("q", None, {}))


def test_decode_minimal_request_defaults() -> None:
    req = decode_infer_request(_body({"inputs": [_inp()]})[0])
    assert req.id is None and req.outputs == () and dict(req.parameters) == {}
    assert isinstance(req, InferRequest)
    assert decode_infer_request(b'{"inputs": []}').inputs == ()


def test_decode_binary_and_mixed_request() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    words = struct.pack("<I", 2) + b"hi" + struct.pack("<I", 1) + b"\xff"
    flags = np.array([True, False])
    doc = {
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [2, 3], "parameters": {"binary_data_size": 24}},
            {"name": "j", "datatype": "INT32", "shape": [2], "data": [7, 8]},
            {"name": "w", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": len(words)}},
            {"name": "f", "datatype": "BOOL", "shape": [2], "parameters": {"binary_data_size": 2}},
        ]
    }
    body, header = _body(doc, x.tobytes(), words, flags.tobytes())
    req = decode_infer_request(body, header_length=header, content_type="application/octet-stream")
    assert _same(req.input("x").data, x) and req.input("x").data.flags.writeable
    assert req.input("j").data.tolist() == [7, 8]
    assert req.input("w").data.tolist() == [b"hi", b"\xff"]
    assert req.input("f").data.tolist() == [True, False]
    assert req.input("x").parameters["binary_data_size"] == 24


def test_header_length_covering_the_whole_body() -> None:
    body, _ = _body({"inputs": [_inp()]})
    assert decode_infer_request(body, header_length=len(body)).input("x").shape == (1, 2)


def test_missing_input_is_named() -> None:
    req = decode_infer_request(_body({"inputs": [_inp("a")]})[0])
    with pytest.raises(InvalidInputError) as exc:
        req.input("age")
    assert "'age'" in exc.value.message and "'a'" in exc.value.message and exc.value.hint


_F24 = {"binary_data_size": 24}
BAD_REQUESTS: list[tuple[bytes, int | None, str]] = [
    (b"not json", None, "body"),
    (b"", None, "body"),
    (b"[1, 2]", None, "JSON object"),
    (b'"x"', None, "JSON object"),
    (b"{}", None, "inputs: missing"),
    (b'{"inputs": {"name": "x"}}', None, "inputs: expected a list"),
    (b'{"inputs": []}', 15, INFERENCE_HEADER),
    (b'{"inputs": []}', -1, INFERENCE_HEADER),
    (b'{"inputs": []}xx', 14, "binary section holds 2 bytes"),
    (b'{"inputs": []}', 3, "body"),
]


@pytest.mark.parametrize(("body", "header", "needle"), BAD_REQUESTS)
def test_unparseable_bodies_are_bad_requests(body: bytes, header: int | None, needle: str) -> None:
    with pytest.raises(BadRequestError) as exc:
        decode_infer_request(body, header_length=header)
    assert needle in exc.value.message and exc.value.hint and exc.value.http_status == 400


def test_binary_sizes_must_match_the_binary_section() -> None:
    doc = {"inputs": [_inp(parameters=_F24, shape=[2, 3])]}
    short, header = _body(doc, b"\x00" * 20)
    with pytest.raises(BadRequestError) as exc:
        decode_infer_request(short, header_length=header)
    assert "inputs[0] 'x'" in exc.value.message and "24 bytes" in exc.value.message
    long, header = _body(doc, b"\x00" * 30)
    with pytest.raises(BadRequestError) as exc:
        decode_infer_request(long, header_length=header)
    assert "30 bytes" in exc.value.message and "24" in exc.value.message
    with pytest.raises(BadRequestError) as exc:
        decode_infer_request(_body(doc)[0])
    assert "inputs[0] 'x'" in exc.value.message and INFERENCE_HEADER in exc.value.hint


def test_octet_stream_without_header_gets_a_hint() -> None:
    with pytest.raises(BadRequestError) as exc:
        decode_infer_request(b'{"inputs": []}\x00\x01', content_type="application/octet-stream")
    assert INFERENCE_HEADER in exc.value.hint


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"inputs": [3]}, "inputs[0]: expected a JSON object"),
    ({"inputs": [{"datatype": "FP32", "shape": [1], "data": [1]}]}, "inputs[0]: missing 'name'"),
    ({"inputs": [{"name": "", "datatype": "FP32", "shape": [1], "data": [1]}]}, "inputs[0].name"),
    ({"inputs": [{"name": 5, "datatype": "FP32", "shape": [1], "data": [1]}]}, "inputs[0].name"),
    ({"inputs": [{"name": "age", "shape": [1], "data": [1]}]}, "inputs[0] 'age': missing 'datatype'"),
    ({"inputs": [{"name": "age", "datatype": "FP32", "data": [1]}]}, "inputs[0] 'age': missing 'shape'"),
    ({"inputs": [{"name": "age", "datatype": "FP32", "shape": [1]}]}, "inputs[0] 'age': missing 'data'"),
    ({"inputs": [{"name": "age", "datatype": "FP32", "shape": 2, "data": [1]}]}, "inputs[0] 'age'.shape"),
    ({"inputs": [_inp("a"), _inp("age", "FLOAT")]}, "inputs[1] 'age': unknown datatype 'FLOAT'"),
    ({"inputs": [_inp("a"), _inp("age", shape=[2, 3], data=[1] * 5)]}, "inputs[1] 'age': shape [2, 3] holds 6"),
    ({"inputs": [_inp("age", shape=[-1], data=[])]}, "inputs[0] 'age': shape [-1]"),
    ({"inputs": [_inp("age", "INT64", [1], data=[1.5])]}, "inputs[0] 'age': data value 0"),
    ({"inputs": [_inp("age", "FP32", [1], data=["a"])]}, "inputs[0] 'age': data value 0"),
    ({"inputs": [_inp("age", "BOOL", [1], data=[1])]}, "inputs[0] 'age': data value 0"),
    ({"inputs": [_inp("a"), _inp("a")]}, "inputs[1] 'a': duplicate input"),
    ({"id": 5, "inputs": []}, "id: expected a string"),
    ({"parameters": [], "inputs": []}, "request.parameters"),
    ({"parameters": {"binary_data_output": "yes"}, "inputs": []}, "request.parameters.binary_data_output"),
    ({"inputs": [_inp("age", parameters=7)]}, "inputs[0] 'age'.parameters"),
    ({"inputs": [_inp("age", data=[1, 2], parameters={"binary_data_size": 8})]}, "inputs[0] 'age': has both"),
    ({"inputs": [_inp("age", parameters={"binary_data_size": -8})]}, "inputs[0] 'age'.parameters.binary_data_size"),
    ({"inputs": [_inp("age", parameters={"binary_data_size": "8"})]}, "inputs[0] 'age'.parameters.binary_data_size"),
    ({"inputs": [_inp("age", parameters={"shared_memory_region": "r"})]}, "shared_memory_region"),
    ({"inputs": [], "outputs": {"name": "y"}}, "outputs: expected a list"),
    ({"inputs": [], "outputs": ["y"]}, "outputs[0]: expected a JSON object"),
    ({"inputs": [], "outputs": [{"parameters": {}}]}, "outputs[0]: missing 'name'"),
    ({"inputs": [], "outputs": [{"name": "y", "parameters": {"binary_data": 1}}]}, "outputs[0] 'y'.parameters"),
    ({"inputs": [], "outputs": [{"name": "y"}, {"name": "y"}]}, "outputs[1] 'y': duplicate output"),
]


@pytest.mark.parametrize(("doc", "needle"), INVALID)
def test_wrong_content_is_invalid_input(doc: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidInputError) as exc:
        decode_infer_request(orjson.dumps(doc))
    assert needle in exc.value.message, exc.value.message
    assert exc.value.hint and exc.value.http_status == 422


def test_binary_tensor_content_errors_name_the_input() -> None:
    doc = {"inputs": [_inp("a"), _inp("flag", "BOOL", [2], parameters={"binary_data_size": 2})]}
    body, header = _body(doc, b"\x00\x07")
    with pytest.raises(InvalidInputError) as exc:
        decode_infer_request(body, header_length=header)
    assert exc.value.message.startswith("inputs[1] 'flag': data value 1")
    doc = {"inputs": [_inp("x", "FP32", [2], parameters={"binary_data_size": 4})]}
    body, header = _body(doc, b"\x00" * 4)
    with pytest.raises(InvalidInputError) as exc:
        decode_infer_request(body, header_length=header)
    assert exc.value.message.startswith("inputs[0] 'x': shape [2] of FP32 needs 8 bytes")


# -- encoding ----------------------------------------------------------------------------------------------------

Y = Tensor.from_array("y", np.array([[0.25, 0.75]], dtype=np.float32))
LABEL = Tensor.from_array("label", np.array(["gold"]), parameters={"content_type": "str"})


def test_encode_json_response() -> None:
    body, headers = encode_infer_response(
        model_name="credit", model_version="3", request_id="r1", outputs=[Y, LABEL], parameters={"variant": "stable"}
    )
    assert headers == {"Content-Type": "application/json"}
    assert orjson.loads(body) == {
        "model_name": "credit",
        "model_version": "3",
        "id": "r1",
        "parameters": {"variant": "stable"},
        "outputs": [
            {"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [0.25, 0.75]},
            {
                "name": "label",
                "datatype": "BYTES",
                "shape": [1],
                "parameters": {"content_type": "str"},
                "data": ["gold"],
            },
        ],
    }


def test_encode_omits_absent_fields() -> None:
    body, _ = encode_infer_response(model_name="m", model_version=None, request_id=None, outputs=[Y], parameters={})
    assert set(orjson.loads(body)) == {"model_name", "outputs"}


def test_encode_binary_default() -> None:
    body, headers = encode_infer_response(
        model_name="m", model_version="1", request_id=None, outputs=[Y, LABEL], binary_default=True
    )
    assert headers["Content-Type"] == "application/octet-stream"
    n = int(headers[INFERENCE_HEADER])
    doc = orjson.loads(body[:n])
    assert [o["parameters"] for o in doc["outputs"]] == [
        {"binary_data_size": 8},
        {"content_type": "str", "binary_data_size": 8},
    ]
    assert all("data" not in o for o in doc["outputs"])
    assert body[n:] == encode_binary_data(Y) + encode_binary_data(LABEL)


def test_encode_requested_outputs_choose_and_order() -> None:
    requested = [RequestedOutput("label", None, {}), RequestedOutput("y", True, {})]
    body, headers = encode_infer_response(
        model_name="m", model_version=None, request_id=None, outputs=[Y, LABEL], requested=requested
    )
    n = int(headers[INFERENCE_HEADER])
    doc = orjson.loads(body[:n])
    assert [o["name"] for o in doc["outputs"]] == ["label", "y"]
    assert doc["outputs"][0]["data"] == ["gold"] and "data" not in doc["outputs"][1]
    assert body[n:] == encode_binary_data(Y)
    body, headers = encode_infer_response(
        model_name="m",
        model_version=None,
        request_id=None,
        outputs=[Y, LABEL],
        requested=[RequestedOutput("y", False, {})],
        binary_default=True,
    )
    assert headers == {"Content-Type": "application/json"}
    assert [o["name"] for o in orjson.loads(body)["outputs"]] == ["y"]


def test_encode_unknown_requested_output() -> None:
    with pytest.raises(InvalidInputError) as exc:
        encode_infer_response(
            model_name="m",
            model_version=None,
            request_id=None,
            outputs=[Y],
            requested=[RequestedOutput("y", None, {}), RequestedOutput("proba", None, {})],
        )
    assert "outputs[1] 'proba'" in exc.value.message and "'y'" in exc.value.hint


def test_encode_non_utf8_bytes_need_binary() -> None:
    blob = Tensor.from_array("blob", np.array([b"\xff"], dtype=object))
    with pytest.raises(InvalidInputError) as exc:
        encode_infer_response(model_name="m", model_version=None, request_id=None, outputs=[blob])
    assert "'blob'" in exc.value.message
    body, headers = encode_infer_response(
        model_name="m", model_version=None, request_id=None, outputs=[blob], binary_default=True
    )
    assert body.endswith(b"\x01\x00\x00\x00\xff") and INFERENCE_HEADER in headers


def test_encode_non_contiguous_and_big_endian_outputs() -> None:
    a = Tensor("a", "FP64", (2, 2), np.arange(4.0).reshape(2, 2).T)
    b = Tensor("b", "INT32", (2,), np.array([1, 2], dtype=">i4"))
    body, _ = encode_infer_response(model_name="m", model_version=None, request_id=None, outputs=[a, b])
    outs = orjson.loads(body)["outputs"]
    assert outs[0]["data"] == [0.0, 2.0, 1.0, 3.0] and outs[1]["data"] == [1, 2]
    assert encode_binary_data(b) == np.array([1, 2], dtype="<i4").tobytes()


# -- interop with Triton's reference client ----------------------------------------------------------------------


def _sample(datatype: str, shape: tuple[int, ...]) -> npt.NDArray[Any]:
    n = math.prod(shape)
    if datatype == "BYTES":
        words: npt.NDArray[Any] = np.array([f"v{i}é".encode() for i in range(n)], dtype=object)
        return words.reshape(shape)
    if datatype == "BOOL":
        return np.asarray(np.arange(n) % 2 == 0).reshape(shape)
    return (np.arange(n) % 100).astype(DATATYPES[datatype]).reshape(shape)


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_requests_decode(binary: bool) -> None:
    arrays = {f"in_{dt.lower()}": (dt, _sample(dt, (2, 3))) for dt in DATATYPES}
    inputs = []
    for name, (dt, arr) in arrays.items():
        inp = triton.InferInput(name, list(arr.shape), dt)
        inp.set_data_from_numpy(arr, binary_data=binary)
        inputs.append(inp)
    text = triton.InferInput("text", [2], "BYTES")
    text.set_data_from_numpy(np.array(["héllo", "wörld"], dtype=object), binary_data=not binary)
    inputs.append(text)
    outputs = [triton.InferRequestedOutput("y", binary_data=binary), triton.InferRequestedOutput("z")]
    body, header = triton.InferenceServerClient.generate_request_body(inputs, outputs=outputs, request_id="req-7")
    req = decode_infer_request(body, header_length=header)
    assert req.id == "req-7"
    for name, (dt, arr) in arrays.items():
        got = req.input(name)
        assert got.datatype == dt and got.shape == (2, 3) and got.data.dtype == DATATYPES[dt]
        assert _same(got.data, arr), name
    assert req.input("text").data.tolist() == ["héllo".encode(), "wörld".encode()]
    assert [(o.name, o.binary_data) for o in req.outputs] == [("y", binary), ("z", True)]


def test_tritonclient_without_outputs_asks_for_binary() -> None:
    inp = triton.InferInput("x", [1, 2], "FP64")
    inp.set_data_from_numpy(np.array([[1.0, 2.0]]), binary_data=False)
    body, header = triton.InferenceServerClient.generate_request_body([inp])
    req = decode_infer_request(body, header_length=header)
    assert header is None and req.parameters["binary_data_output"] is True and req.id is None


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_parses_responses(binary: bool) -> None:
    outputs = [Tensor.from_array(f"out_{dt.lower()}", _sample(dt, (3, 2))) for dt in DATATYPES]
    body, headers = encode_infer_response(
        model_name="m", model_version="2", request_id="r", outputs=outputs, binary_default=binary
    )
    header = int(headers[INFERENCE_HEADER]) if INFERENCE_HEADER in headers else None
    assert (header is not None) == binary
    result = triton.InferenceServerClient.parse_response_body(body, header_length=header)
    assert result.get_response()["model_version"] == "2"
    for t in outputs:
        got = result.as_numpy(t.name)
        assert got.shape == t.shape, t.name
        if t.datatype == "BYTES":
            assert [v if isinstance(v, bytes) else v.encode() for v in got.reshape(-1)] == t.data.reshape(-1).tolist()
        else:
            assert got.dtype == DATATYPES[t.datatype] and _same(got, t.data), t.name


# -- properties --------------------------------------------------------------------------------------------------


@st.composite
def _tensor(draw: st.DrawFn, name: str, *, finite: bool) -> Tensor:
    datatype = draw(st.sampled_from(list(DATATYPES)))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))
    if datatype == "BYTES":
        n = math.prod(shape)
        values = draw(st.lists(st.text(max_size=6), min_size=n, max_size=n))
        return Tensor.from_array(name, np.array(values, dtype=object).reshape(shape))
    dtype = DATATYPES[datatype]
    elements = None
    if dtype.kind == "f" and finite:
        elements = st.floats(width=8 * dtype.itemsize, allow_nan=False, allow_infinity=False)  # type: ignore[arg-type]
    return Tensor(name, datatype, shape, draw(hnp.arrays(dtype, shape, elements=elements)))


@st.composite
def _tensor_list(draw: st.DrawFn, *, finite: bool) -> list[Tensor]:
    n = draw(st.integers(min_value=1, max_value=4))
    return [draw(_tensor(f"t{i}", finite=finite)) for i in range(n)]


@settings(max_examples=150, deadline=None)
@given(_tensor_list(finite=False), st.data())
def test_request_round_trip(tensors: list[Tensor], data: st.DataObject) -> None:
    inputs, blobs = [], []
    for t in tensors:
        entry: dict[str, Any] = {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}
        finite = t.datatype[:2] != "FP" or bool(np.isfinite(t.data).all())
        if data.draw(st.booleans()) or not finite:  # JSON carries no infinities
            blob = encode_binary_data(t)
            blobs.append(blob)
            entry["parameters"] = {"binary_data_size": len(blob)}
        else:
            entry["data"] = to_json_data(t)
        inputs.append(entry)
    body, header = _body({"inputs": inputs}, *blobs)
    req = decode_infer_request(body, header_length=header)
    for t in tensors:
        assert req.input(t.name).shape == t.shape and _same(req.input(t.name).data, t.data)


@settings(max_examples=100, deadline=None)
@given(_tensor_list(finite=True), st.data())
def test_tritonclient_request_round_trip(tensors: list[Tensor], data: st.DataObject) -> None:
    inputs = []
    for t in tensors:
        inp = triton.InferInput(t.name, list(t.shape), t.datatype)
        inp.set_data_from_numpy(t.data, binary_data=data.draw(st.booleans()))
        inputs.append(inp)
    body, header = triton.InferenceServerClient.generate_request_body(inputs)
    req = decode_infer_request(body, header_length=header)
    for t in tensors:
        assert _same(req.input(t.name).data, t.data)


@settings(max_examples=100, deadline=None)
@given(_tensor_list(finite=False), st.data())
def test_tritonclient_response_round_trip(tensors: list[Tensor], data: st.DataObject) -> None:
    flags = [data.draw(st.sampled_from([None, True, False])) for _ in tensors]
    finite = all(t.datatype[:2] != "FP" or np.isfinite(t.data).all() for t in tensors)
    if not finite:  # JSON carries no infinities: send every output as binary
        flags = [True] * len(tensors)
    requested = [RequestedOutput(t.name, f, {}) for t, f in zip(tensors, flags, strict=True)]
    body, headers = encode_infer_response(
        model_name="m", model_version=None, request_id=None, outputs=tensors, requested=requested
    )
    header = int(headers[INFERENCE_HEADER]) if INFERENCE_HEADER in headers else None
    result = triton.InferenceServerClient.parse_response_body(body, header_length=header)
    for t in tensors:
        got = result.as_numpy(t.name)
        if t.datatype == "BYTES":
            got = np.array([v if isinstance(v, bytes) else v.encode() for v in got.reshape(-1)], dtype=object)
            assert got.tolist() == t.data.reshape(-1).tolist()
        else:
            assert got.shape == t.shape and _same(got, t.data)


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=25,
)
_input_like = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=3) | _json,
        "datatype": st.sampled_from([*DATATYPES, "X"]) | _json,
        "shape": st.lists(st.integers(min_value=-1, max_value=3), max_size=3) | _json,
        "data": _json,
        "parameters": st.fixed_dictionaries({}, optional={"binary_data_size": st.integers(-2, 12) | _json}) | _json,
    },
)
_request_like = st.fixed_dictionaries(
    {},
    optional={
        "id": _json,
        "inputs": st.lists(_input_like | _json, max_size=3) | _json,
        "outputs": st.lists(st.fixed_dictionaries({"name": _json, "parameters": _json}) | _json, max_size=2) | _json,
        "parameters": _json,
    },
)


def _only_ours(body: bytes, header: int | None) -> None:
    try:
        decode_infer_request(body, header_length=header)
    except ModelPilotError as err:
        _has_hint(err)


def _has_hint(err: ModelPilotError) -> None:
    assert err.hint and err.message
    assert isinstance(err, BadRequestError | InvalidInputError)


@settings(max_examples=500, deadline=None)
@given(_request_like, st.binary(max_size=24), st.booleans())
def test_fuzz_structured_requests(doc: dict[str, Any], tail: bytes, with_header: bool) -> None:
    header = orjson.dumps(doc)
    _only_ours(header + tail if with_header else header, len(header) if with_header else None)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200), st.none() | st.integers(min_value=-5, max_value=250))
def test_fuzz_arbitrary_bytes(body: bytes, header: int | None) -> None:
    _only_ours(body, header)


@settings(max_examples=300, deadline=None)
@given(_tensor_list(finite=True), st.data())
def test_fuzz_mutated_binary_requests(tensors: list[Tensor], data: st.DataObject) -> None:
    inputs = []
    for t in tensors:
        inp = triton.InferInput(t.name, list(t.shape), t.datatype)
        inp.set_data_from_numpy(t.data, binary_data=True)
        inputs.append(inp)
    body, header = triton.InferenceServerClient.generate_request_body(inputs)
    mutated = bytearray(body)
    for _ in range(data.draw(st.integers(0, 3))):
        if mutated:
            mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(mutated)))
    shift = data.draw(st.integers(-3, 3))
    _only_ours(bytes(mutated[: cut or None]), None if header is None else header + shift)
