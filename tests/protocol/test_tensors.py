"""Tensor datatypes and the per-tensor JSON and binary codecs."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from modelpilot.errors import InvalidInputError, ModelPilotError
from modelpilot.protocol.tensors import (
    DATATYPES,
    Tensor,
    datatype_of,
    decode_binary_data,
    decode_json_data,
    encode_binary_data,
    to_json_data,
)

NUMERIC = [d for d in DATATYPES if d != "BYTES"]
SAMPLES: dict[str, list[Any]] = {
    "BOOL": [True, False, True, True, False, False],
    "UINT8": [0, 1, 2, 3, 254, 255],
    "UINT16": [0, 1, 2, 3, 65534, 65535],
    "UINT32": [0, 1, 2, 3, 2**32 - 2, 2**32 - 1],
    "UINT64": [0, 1, 2, 3, 2**64 - 2, 2**64 - 1],
    "INT8": [-128, -1, 0, 1, 2, 127],
    "INT16": [-(2**15), -1, 0, 1, 2, 2**15 - 1],
    "INT32": [-(2**31), -1, 0, 1, 2, 2**31 - 1],
    "INT64": [-(2**63), -1, 0, 1, 2**53 + 1, 2**63 - 1],
    "FP16": [-1.5, 0.0, 0.25, 1.0, 65504.0, -65504.0],
    "FP32": [-1.5, 0.0, 0.1, 1e30, 3.4028234663852886e38, -2.5],
    "FP64": [-1.5, 0.0, 0.1, 1e300, 5e-324, -2.5],
    "BYTES": ["", "a", "héllo", "日本", "x" * 100, "\x00"],
}


def _rejects(exc: pytest.ExceptionInfo[ModelPilotError], *needles: str) -> None:
    err = exc.value
    assert err.hint, "every error says how to fix it"
    for needle in needles:
        assert needle in err.message, (needle, err.message)


# -- datatypes ---------------------------------------------------------------------------------------------------


def test_datatypes_cover_the_protocol() -> None:
    assert list(DATATYPES) == [
        "BOOL",
        "UINT8",
        "UINT16",
        "UINT32",
        "UINT64",
        "INT8",
        "INT16",
        "INT32",
        "INT64",
        "FP16",
        "FP32",
        "FP64",
        "BYTES",
    ]
    assert DATATYPES["BYTES"] == np.dtype(object)
    assert all(dt.byteorder in "<|=" for dt in DATATYPES.values())


@pytest.mark.parametrize("datatype", NUMERIC)
def test_datatype_of_numeric(datatype: str) -> None:
    assert datatype_of(np.zeros(2, dtype=DATATYPES[datatype])) == datatype
    assert datatype_of(np.zeros(2, dtype=DATATYPES[datatype].newbyteorder(">"))) == datatype


@pytest.mark.parametrize("array", [np.array(["a"]), np.array([b"a"]), np.array([{"x": 1}], dtype=object)])
def test_datatype_of_text_is_bytes(array: npt.NDArray[Any]) -> None:
    assert datatype_of(array) == "BYTES"


@pytest.mark.parametrize("dtype", ["complex128", "datetime64[s]", "timedelta64[s]", "V4"])
def test_datatype_of_unsupported(dtype: str) -> None:
    with pytest.raises(InvalidInputError) as exc:
        datatype_of(np.zeros(1, dtype=dtype))
    _rejects(exc, "dtype")


# -- Tensor ------------------------------------------------------------------------------------------------------


def test_from_array_infers_and_normalises() -> None:
    t = Tensor.from_array("x", [[1.0, 2.0]])
    assert (t.datatype, t.shape, t.data.dtype) == ("FP64", (1, 2), np.dtype("<f8"))
    assert dict(t.parameters) == {}
    big = Tensor.from_array("b", np.array([1, 2], dtype=">i4"), parameters={"k": 1})
    assert big.datatype == "INT32" and big.data.dtype == np.dtype("<i4") and big.data.tolist() == [1, 2]
    assert dict(big.parameters) == {"k": 1}
    s = Tensor.from_array("s", np.array([["é", "b"]]))
    assert s.datatype == "BYTES" and s.data.dtype == object and s.data.tolist() == [["é".encode(), b"b"]]
    o = Tensor.from_array("o", np.array([b"r", "t", 3, np.bytes_(b"n")], dtype=object))
    assert o.data.tolist() == [b"r", b"t", b"3", b"n"]
    scalar = Tensor.from_array("k", 7)
    assert scalar.shape == () and scalar.datatype == "INT64"


def test_tensor_checks_datatype_and_shape() -> None:
    with pytest.raises(InvalidInputError) as exc:
        Tensor("x", "FLOAT", (1,), np.zeros(1))
    _rejects(exc, "'x'", "FLOAT")
    with pytest.raises(InvalidInputError) as exc:
        Tensor("x", "FP64", (2,), np.zeros(3))
    _rejects(exc, "'x'", "[2]", "[3]")


def test_tensor_shape_becomes_a_tuple() -> None:
    assert Tensor("x", "FP64", [2], np.zeros(2)).shape == (2,)  # type: ignore[arg-type]


def test_tensor_is_frozen() -> None:
    t = Tensor.from_array("x", [1])
    with pytest.raises(AttributeError):
        t.name = "y"  # type: ignore[misc]


# -- round trips per datatype ------------------------------------------------------------------------------------


@pytest.mark.parametrize("datatype", list(DATATYPES))
def test_json_round_trip_every_datatype(datatype: str) -> None:
    values = SAMPLES[datatype]
    arr = decode_json_data("x", datatype, [2, 3], values)
    assert arr.shape == (2, 3)
    assert arr.dtype == DATATYPES[datatype]
    tensor = Tensor("x", datatype, (2, 3), arr)
    wire = orjson.loads(orjson.dumps(to_json_data(tensor)))
    if datatype == "BYTES":
        assert arr.reshape(-1).tolist() == [v.encode() for v in values]
        assert wire == values
    else:
        assert wire == arr.reshape(-1).tolist()
        assert decode_json_data("x", datatype, [2, 3], wire).tolist() == arr.tolist()


@pytest.mark.parametrize("datatype", list(DATATYPES))
def test_binary_round_trip_every_datatype(datatype: str) -> None:
    arr = decode_json_data("x", datatype, [3, 2], SAMPLES[datatype])
    raw = encode_binary_data(Tensor("x", datatype, (3, 2), arr))
    if datatype != "BYTES":
        assert len(raw) == 6 * DATATYPES[datatype].itemsize
        assert raw == arr.astype(DATATYPES[datatype]).tobytes()
    back = decode_binary_data("x", datatype, (3, 2), raw)
    assert back.dtype == DATATYPES[datatype]
    assert back.tolist() == arr.tolist()
    assert back.flags.writeable
    assert decode_binary_data("x", datatype, [3, 2], memoryview(raw)).tolist() == arr.tolist()


def test_bytes_binary_layout_is_length_prefixed() -> None:
    t = Tensor.from_array("s", np.array([b"ab", b"", b"\xff"], dtype=object))
    raw = encode_binary_data(t)
    assert raw == struct.pack("<I", 2) + b"ab" + struct.pack("<I", 0) + struct.pack("<I", 1) + b"\xff"
    assert decode_binary_data("s", "BYTES", [3], raw).tolist() == [b"ab", b"", b"\xff"]


def test_nested_and_flat_data_agree() -> None:
    nested = decode_json_data("x", "FP32", [2, 3], [[1, 2, 3], [4, 5, 6]])
    flat = decode_json_data("x", "FP32", [2, 3], [1, 2, 3, 4, 5, 6])
    assert nested.tolist() == flat.tolist() == [[1, 2, 3], [4, 5, 6]]
    deeper = decode_json_data("x", "INT32", [2, 3], [[[1, 2, 3]], [[4, 5, 6]]])
    assert deeper.shape == (2, 3)
    words = decode_json_data("w", "BYTES", [2, 1], [["a"], ["b"]])
    assert words.tolist() == [[b"a"], [b"b"]]


def test_json_special_values() -> None:
    assert math.isnan(decode_json_data("x", "FP32", [2], [1, None])[1])
    assert decode_json_data("x", "FP64", [], 2.5).tolist() == 2.5
    assert decode_json_data("x", "INT64", [2], [1.0, 2.0]).tolist() == [1, 2]
    assert decode_json_data("x", "INT64", [2], [1.0, 2**60 + 1]).tolist() == [1, 2**60 + 1]
    assert decode_json_data("x", "UINT64", [2], [1, 2**64 - 1]).tolist() == [1, 2**64 - 1]
    assert decode_json_data("x", "FP64", [2], [2**70, 1]).tolist() == [float(2**70), 1.0]
    assert decode_json_data("x", "FP32", [0, 4], []).shape == (0, 4)
    assert decode_json_data("x", "BYTES", [0], []).shape == (0,)


def test_json_booleans_are_numbers_in_numeric_tensors() -> None:
    assert decode_json_data("x", "FP32", [2], [True, False]).tolist() == [1.0, 0.0]
    assert decode_json_data("x", "INT8", [2], [[True], [False]]).tolist() == [1, 0]
    assert decode_json_data("x", "UINT8", [2], [1, True]).tolist() == [1, 1]


def test_float_overflow_boundary() -> None:
    top = float(np.finfo(np.float32).max)
    assert decode_json_data("x", "FP32", [2], [3.4028235e38, -top]).tolist() == [top, -top]
    with pytest.raises(InvalidInputError):
        decode_json_data("x", "FP32", [1], [3.41e38])
    assert decode_json_data("x", "FP16", [1], [65519]).tolist() == [65504.0]
    with pytest.raises(InvalidInputError):
        decode_json_data("x", "FP16", [1], [65520])


def test_json_nan_travels_as_null() -> None:
    t = Tensor.from_array("x", np.array([1.0, np.nan], dtype=np.float32))
    wire = orjson.loads(orjson.dumps(to_json_data(t)))
    assert wire == [1.0, None]
    assert np.isnan(decode_json_data("x", "FP32", [2], wire)[1])


def test_non_utf8_bytes_cannot_go_to_json() -> None:
    with pytest.raises(InvalidInputError) as exc:
        to_json_data(Tensor.from_array("blob", np.array([b"ok", b"\xff"], dtype=object)))
    _rejects(exc, "'blob'", "element 1", "UTF-8")
    assert "binary_data" in exc.value.hint


# -- JSON errors -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("datatype", "shape", "data", "needles"),
    [
        ("FLOAT", [1], [1], ["FLOAT"]),
        (3, [1], [1], ["3"]),
        ("FP32", [-1], [], ["shape"]),
        ("FP32", [1.5], [1], ["shape"]),
        ("FP32", [True], [1], ["shape"]),
        ("FP32", "2", [1, 2], ["shape"]),
        ("FP32", [1] * 40, [1], ["shape"]),
        ("FP32", [2, 3], [1, 2, 3, 4, 5], ["shape [2, 3] holds 6 values but data has 5"]),
        ("BYTES", [3], ["a", "b"], ["holds 3 values but data has 2"]),
        ("FP32", [2, 2], [[1, 2], [3]], ["regular"]),
        ("FP32", [2], [1, "a"], ["value 1", "'a'", "FP32"]),
        ("FP32", [2], ["a", "b"], ["value 0", "FP32"]),
        ("FP32", [3], [[1, 2], [3]], ["regular"]),
        ("FP32", [4], [[1, 2], 3, 4], ["regular"]),
        ("FP32", [2], [{}, {}], ["value 0"]),
        ("FP32", [0], [[], {}], ["regular"]),
        ("FP32", [1], [1e300], ["too large", "FP32"]),
        ("FP16", [1], [70000], ["too large", "FP16"]),
        ("FP64", [1], [{"a": 1}], ["value 0", "FP64"]),
        ("FP64", [1], [10**400], ["too large"]),
        ("INT64", [2], [1, 1.5], ["value 1", "1.5", "whole", "INT64"]),
        ("INT64", [2], [1, None], ["value 1", "None"]),
        ("INT64", [1], [2**63], ["outside"]),
        ("INT64", [2], [0.5, 2**60], ["value 0", "whole"]),
        ("INT64", [2], [1.0, 2.0**70], ["value 1", "outside"]),
        ("INT32", [2], [1, 2**40], ["value 1", "outside", "INT32"]),
        ("UINT8", [2], [1, -1], ["value 1", "outside", "UINT8"]),
        ("UINT64", [2], [-1, 2**64 - 1], ["value 0", "outside"]),
        ("INT8", [1], [[1, [2]]], ["regular"]),
        ("INT16", [2], ["1", "2"], ["value 0", "INT16"]),
        ("BOOL", [2], [True, 1], ["value 1", "true/false"]),
        ("BOOL", [2], [0, 1], ["value 0", "true/false"]),
        ("BOOL", [2], [True, None], ["value 1"]),
        ("BYTES", [2], ["a", 1], ["value 1", "not a string"]),
        ("BYTES", [2], [["a"], ["b", "c"]], ["not a string"]),
        ("BYTES", [1], [None], ["value 0"]),
    ],
)
def test_json_errors_name_the_tensor(datatype: Any, shape: Any, data: Any, needles: list[str]) -> None:
    if not needles:
        decode_json_data("age", datatype, shape, data)
        return
    with pytest.raises(InvalidInputError) as exc:
        decode_json_data("age", datatype, shape, data)
    _rejects(exc, "'age'", *needles)
    assert exc.value.http_status == 422


# -- binary errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("datatype", "shape", "raw", "needles"),
    [
        ("FP32", [2], b"\x00" * 7, ["needs 8 bytes", "has 7"]),
        ("INT64", [1], b"\x00" * 9, ["needs 8 bytes", "has 9"]),
        ("BOOL", [2], b"\x00\x02", ["value 1", "BOOL"]),
        ("BYTES", [2], struct.pack("<I", 1) + b"a", ["ends before element 1"]),
        ("BYTES", [1], struct.pack("<I", 5) + b"ab", ["element 0", "declares 5 bytes"]),
        ("BYTES", [1], struct.pack("<I", 1) + b"ab", ["1 bytes left over"]),
        ("BYTES", [1], b"\x01\x00", ["ends before element 0"]),
        ("UINT8", [-2], b"", ["shape"]),
        ("COMPLEX", [1], b"", ["COMPLEX"]),
    ],
)
def test_binary_errors_name_the_tensor(datatype: str, shape: list[int], raw: bytes, needles: list[str]) -> None:
    with pytest.raises(InvalidInputError) as exc:
        decode_binary_data("age", datatype, shape, raw)
    _rejects(exc, "'age'", *needles)


# -- properties --------------------------------------------------------------------------------------------------

_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)


@st.composite
def tensors(draw: st.DrawFn, *, json_safe: bool) -> Tensor:
    datatype = draw(st.sampled_from(list(DATATYPES)))
    shape = draw(_shapes)
    if datatype == "BYTES":
        size = math.prod(shape)
        elems: st.SearchStrategy[bytes] = st.text(max_size=8).map(str.encode) if json_safe else st.binary(max_size=8)
        values = draw(st.lists(elems, min_size=size, max_size=size))
        data = np.empty(size, dtype=object)
        data[:] = values
        return Tensor("t", datatype, shape, data.reshape(shape))
    dtype = DATATYPES[datatype]
    if dtype.kind == "f" and json_safe:  # JSON has no infinities (NaN travels as null)
        finite = st.floats(width=8 * dtype.itemsize, allow_infinity=False)  # type: ignore[arg-type]
        return Tensor("t", datatype, shape, draw(hnp.arrays(dtype, shape, elements=finite)))
    return Tensor("t", datatype, shape, draw(hnp.arrays(dtype, shape)))


def _same(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> bool:
    if a.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(a.tolist() == b.tolist())


@settings(max_examples=300, deadline=None)
@given(tensors(json_safe=False))
def test_binary_round_trip(tensor: Tensor) -> None:
    back = decode_binary_data(tensor.name, tensor.datatype, tensor.shape, encode_binary_data(tensor))
    assert back.shape == tensor.shape and back.dtype == tensor.data.dtype
    assert _same(back, tensor.data)


@settings(max_examples=300, deadline=None)
@given(tensors(json_safe=True))
def test_json_round_trip(tensor: Tensor) -> None:
    wire = orjson.loads(orjson.dumps({"data": to_json_data(tensor)}))["data"]
    back = decode_json_data(tensor.name, tensor.datatype, list(tensor.shape), wire)
    assert back.shape == tensor.shape and back.dtype == tensor.data.dtype
    assert _same(back, tensor.data)


def _names_field(err: ModelPilotError) -> None:
    assert "'f'" in err.message and err.hint


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from([*DATATYPES, "NOPE"]),
    st.lists(st.integers(min_value=-1, max_value=4), max_size=3) | _json,
    _json,
)
def test_decode_json_data_only_raises_modelpilot_errors(datatype: str, shape: Any, data: Any) -> None:
    try:
        arr = decode_json_data("f", datatype, shape, data)
    except ModelPilotError as err:
        _names_field(err)
    else:
        assert arr.shape == tuple(shape) and arr.dtype == DATATYPES[datatype]


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(list(DATATYPES)), _shapes, st.binary(max_size=64))
def test_decode_binary_data_only_raises_modelpilot_errors(datatype: str, shape: tuple[int, ...], raw: bytes) -> None:
    try:
        arr = decode_binary_data("f", datatype, shape, raw)
    except ModelPilotError as err:
        _names_field(err)
    else:
        assert arr.shape == shape
