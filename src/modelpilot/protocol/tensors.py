"""Tensors of the Open Inference Protocol v2: datatypes, and each tensor's JSON and binary ``data`` codecs.

Numeric tensors are numpy arrays of the datatype's little-endian dtype. ``BYTES`` tensors are object arrays
holding Python ``bytes``; in JSON they travel as UTF-8 strings, in Triton's binary extension each element is a
4-byte little-endian length followed by its bytes. JSON ``null`` is accepted (and produced) as NaN in
floating-point tensors, because JSON has no NaN.

Example:
    >>> arr = decode_json_data("age", "INT64", [2, 2], [[31, 45], [52, 28]])
    >>> arr.dtype.name, arr.shape
    ('int64', (2, 2))
    >>> t = Tensor.from_array("age", arr)
    >>> t.datatype, to_json_data(t)
    ('INT64', [31, 45, 52, 28])
    >>> decode_binary_data("age", "INT64", [2, 2], encode_binary_data(t)).tolist()
    [[31, 45], [52, 28]]
    >>> encode_binary_data(Tensor.from_array("plan", ["ab"]))
    b'\\x02\\x00\\x00\\x00ab'
"""

from __future__ import annotations

import array
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.errors import InvalidInputError

__all__ = [
    "DATATYPES",
    "Tensor",
    "datatype_of",
    "decode_binary_data",
    "decode_json_data",
    "encode_binary_data",
    "to_json_data",
]

_CODES = (
    "BOOL ? UINT8 u1 UINT16 <u2 UINT32 <u4 UINT64 <u8 INT8 i1 INT16 <i2 INT32 <i4 INT64 <i8 FP16 <f2 FP32 <f4 FP64 <f8"
)
DATATYPES: Mapping[str, np.dtype[Any]] = MappingProxyType(
    {**{n: np.dtype(c) for n, c in zip(*[iter(_CODES.split())] * 2, strict=True)}, "BYTES": np.dtype(object)}
)
_BY_KIND_SIZE = {(dt.kind, dt.itemsize): name for name, dt in DATATYPES.items() if name != "BYTES"}
_KNOWN = ", ".join(DATATYPES)
_MAX_DIMS = 32
_LEN = struct.Struct("<I")
_EXACT = 2.0**53  # floats below this magnitude hold integers exactly


def _empty_params() -> Mapping[str, Any]:
    return MappingProxyType({})


def datatype_of(array: npt.NDArray[Any]) -> str:
    """The OIP datatype of a numpy array; text, bytes and object arrays are ``BYTES``."""
    kind = array.dtype.kind
    if kind in "USO":
        return "BYTES"
    name = _BY_KIND_SIZE.get((kind, array.dtype.itemsize))
    if name is None:
        raise InvalidInputError(
            f"numpy dtype {array.dtype} has no Open Inference Protocol datatype",
            hint=f"convert the array to one of: {_KNOWN} (numpy bool, (u)int8-64, float16-64, str or bytes)",
        )
    return name


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return (value if isinstance(value, str) else str(value)).encode("utf-8")


def _bytes_array(arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    out = np.empty(arr.shape, dtype=object)
    if arr.size:
        out.reshape(-1)[:] = [_to_bytes(v) for v in arr.reshape(-1).tolist()]
    return out


@dataclass(frozen=True, slots=True)
class Tensor:
    """One named tensor: its OIP datatype, shape, data (already in that shape) and parameters.

    ``BYTES`` tensors hold Python ``bytes`` in an object array. Build one from any array with :meth:`from_array`.
    """

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: npt.NDArray[Any]
    parameters: Mapping[str, Any] = field(default_factory=_empty_params)

    def __post_init__(self) -> None:
        if type(self.shape) is not tuple:
            object.__setattr__(self, "shape", tuple(self.shape))
        if self.datatype not in DATATYPES:
            raise InvalidInputError(
                f"tensor {self.name!r}: unknown datatype {self.datatype!r}", hint=f"use one of: {_KNOWN}"
            )
        if tuple(self.data.shape) != tuple(self.shape):
            raise InvalidInputError(
                f"tensor {self.name!r}: shape {list(self.shape)} but its data has shape {list(self.data.shape)}",
                hint="reshape the data to the declared shape, or build the tensor with Tensor.from_array",
            )

    @classmethod
    def from_array(cls, name: str, array: npt.ArrayLike, parameters: Mapping[str, Any] | None = None) -> Tensor:
        """A tensor holding ``array``; the datatype is inferred (text becomes ``BYTES`` of UTF-8)."""
        arr = np.asarray(array)
        datatype = datatype_of(arr)
        if datatype == "BYTES":
            arr = _bytes_array(arr)
        elif arr.dtype != DATATYPES[datatype]:
            arr = arr.astype(DATATYPES[datatype])
        return cls(name, datatype, tuple(arr.shape), arr, MappingProxyType(dict(parameters or {})))


def _check_datatype(name: str, datatype: str) -> np.dtype[Any]:
    dtype = DATATYPES.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise InvalidInputError(f"{name!r}: unknown datatype {datatype!r}", hint=f"use one of: {_KNOWN}")
    return dtype


def _check_shape(name: str, shape: Sequence[int]) -> tuple[int, ...]:
    ok = isinstance(shape, list | tuple) and len(shape) <= _MAX_DIMS
    if ok and all(type(d) is int and d >= 0 for d in shape):
        return tuple(shape)
    raise InvalidInputError(
        f"{name!r}: shape {shape!r} is not a list of at most {_MAX_DIMS} non-negative integers",
        hint="give the shape as a JSON list of sizes, e.g. [2, 6] for 2 rows of 6 features",
    )


def _reshape(name: str, flat: npt.NDArray[Any], shape: tuple[int, ...]) -> npt.NDArray[Any]:
    try:
        return flat.reshape(shape)
    except ValueError as exc:  # a zero-sized shape with a dimension numpy cannot index
        raise InvalidInputError(f"{name!r}: shape {list(shape)} is too large", hint="use smaller dimensions") from exc


def _misfit(name: str, datatype: str, index: int, value: Any, why: str) -> InvalidInputError:
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return InvalidInputError(
        f"{name!r}: data value {index} (row-major) is {shown}, which {why}, so it does not fit {datatype}",
        hint=_HINTS.get(datatype[:2], _HINTS["IN"]),  # UINT* shares the INT* hint
    )


_HINTS = {
    "BO": "send BOOL data as JSON true/false",
    "BY": "send BYTES data as JSON strings, or as binary data when they are not UTF-8",
    "FP": "send numbers (or null for a missing value)",
    "IN": "send whole numbers within the datatype's range, or declare a floating-point datatype such as FP64",
}


def _first_not(name: str, datatype: str, flat: Sequence[Any], ok: Any, why: str) -> InvalidInputError | None:
    for i, v in enumerate(flat):
        if not ok(v):
            return _misfit(name, datatype, i, v, why)
    return None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float)  # bool included: true/false count as 1/0 in numeric tensors


def _slow_numeric(name: str, datatype: str, dtype: np.dtype[Any], flat: list[Any]) -> npt.NDArray[Any]:
    """Per-element path for the rare cases numpy cannot type on its own (null, integers beyond 64 bits)."""
    if dtype.kind == "f":
        err = _first_not(name, datatype, flat, lambda v: v is None or _is_number(v), "is not a number")
        if err:
            raise err
        try:
            src = np.array([math.nan if v is None else float(v) for v in flat])
        except OverflowError as exc:
            raise InvalidInputError(f"{name!r}: a data value is too large for {datatype}", hint=_HINTS["FP"]) from exc
        return _float_cast(name, datatype, dtype, src)
    err = _first_not(name, datatype, flat, _is_number, "is not a number")
    if err:
        raise err
    info = np.iinfo(dtype)
    for i, v in enumerate(flat):
        if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
            raise _misfit(name, datatype, i, v, "is not a whole number")
        if not info.min <= v <= info.max:
            raise _misfit(name, datatype, i, v, f"is outside [{info.min}, {info.max}]")
    return np.array([int(v) for v in flat], dtype=dtype)


_FLOAT_LIMIT = {  # half an ulp above the largest finite value rounds to infinity
    dt: float(np.finfo(dt).max) + 2.0 ** (np.finfo(dt).maxexp - np.finfo(dt).nmant - 2)
    for dt in (DATATYPES["FP16"], DATATYPES["FP32"])
}


def _float_cast(name: str, datatype: str, dtype: np.dtype[Any], src: npt.NDArray[Any]) -> npt.NDArray[Any]:
    limit = _FLOAT_LIMIT.get(dtype)
    if limit is not None and src.size:  # FP16 / FP32 would turn a finite value into infinity
        big = np.abs(src) >= limit
        if big.any():
            if src.dtype.kind == "f":
                big &= np.isfinite(src)
            if big.any():
                i = int(np.flatnonzero(big)[0])
                raise _misfit(name, datatype, i, src[i].item(), "is too large")
    return src if src.dtype == dtype else src.astype(dtype)


def _fast_numbers(data: list[Any], kind: str) -> npt.NDArray[Any] | None:
    """A flat list, or a list of equally long flat lists, of plain numbers, converted in C; else ``None``."""
    code = "d" if kind == "f" else "q"
    try:
        if data and type(data[0]) is list:
            values = array.array(code)
            width = len(data[0])
            for row in data:
                values.fromlist(row)  # TypeError unless a list of numbers
                if len(row) != width:
                    return None
        else:
            values = array.array(code, data)
    except (TypeError, OverflowError):  # text, null, lists, floats for integers, integers beyond 64 bits
        return None
    return np.frombuffer(values, dtype=np.float64 if kind == "f" else np.int64)


def _flat_objects(data: list[Any]) -> list[Any]:
    flat: list[Any] = np.asarray(data, dtype=object).reshape(-1).tolist()
    return flat


def _int_cast(
    name: str, datatype: str, dtype: np.dtype[Any], src: npt.NDArray[Any], data: list[Any]
) -> npt.NDArray[Any]:
    info = np.iinfo(dtype)
    if src.dtype == dtype:
        return src
    if src.dtype.kind == "f":
        bad = ~np.isfinite(src) | (src != np.trunc(src))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise _misfit(name, datatype, i, src[i].item(), "is not a whole number")
        if src.size and float(np.abs(src).max()) >= _EXACT:  # may carry rounded big integers: check exactly
            return _slow_numeric(name, datatype, dtype, _flat_objects(data))
    if src.size:
        lo, hi = src.min().item(), src.max().item()
        if lo < info.min or hi > info.max:
            i = int(np.flatnonzero((src < info.min) | (src > info.max))[0])
            raise _misfit(name, datatype, i, src[i].item(), f"is outside [{info.min}, {info.max}]")
    return src.astype(dtype)


def decode_json_data(name: str, datatype: str, shape: Sequence[int], data: Any) -> npt.NDArray[Any]:
    """Turn an OIP JSON ``data`` value (nested row-major lists or one flat list) into an array of ``shape``.

    Raises :class:`~modelpilot.errors.InvalidInputError` naming the tensor when the datatype is unknown, the
    value count does not match the shape, or a value does not fit the datatype.
    """
    dtype = _check_datatype(name, datatype)
    dims = _check_shape(name, shape)
    want = math.prod(dims)
    values = data if isinstance(data, list) else [data]
    src = _fast_numbers(values, dtype.kind) if dtype.kind in "iuf" else None
    if datatype == "BYTES" and all(type(v) is str for v in values):  # the usual flat list of strings
        src = np.empty(len(values), dtype=object)
        src[:] = values
    try:
        src = src if src is not None else np.asarray(values, dtype=object if datatype == "BYTES" else None).ravel()
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise InvalidInputError(
            f"{name!r}: data is not a regular nested list of values ({exc})",
            hint="send one flat list in row-major order, or nested lists whose lengths match the shape",
        ) from exc
    if src.size != want:
        raise InvalidInputError(
            f"{name!r}: shape {list(dims)} holds {want} values but data has {src.size}",
            hint="send exactly as many values as the shape's sizes multiply to, in row-major order",
        )
    out: npt.NDArray[Any]
    kind = src.dtype.kind
    if want == 0:
        out = np.empty(0, dtype=dtype)
    elif datatype == "BYTES":
        flat = src.tolist()
        err = _first_not(name, datatype, flat, lambda v: isinstance(v, str), "is not a string")
        if err:
            raise err
        out = np.empty(want, dtype=object)
        out[:] = [v.encode("utf-8") for v in flat]
    elif datatype == "BOOL":
        if kind != "b":
            err = _first_not(name, datatype, _flat_objects(values), lambda v: isinstance(v, bool), "is not true/false")
            raise err or _misfit(name, datatype, 0, src[0].item(), "is not true/false")
        out = src
    elif kind == "b":  # JSON true/false count as 1/0 in numeric tensors, as in Python and numpy
        out = src.astype(dtype)
    elif kind in "iuf":
        if dtype.kind == "f":
            out = _float_cast(name, datatype, dtype, src)
        else:
            out = _int_cast(name, datatype, dtype, src, values)
    elif kind == "O":
        out = _slow_numeric(name, datatype, dtype, src.tolist())
    else:  # text where numbers belong
        err = _first_not(name, datatype, _flat_objects(values), _is_number, "is not a number")
        raise err or _misfit(name, datatype, 0, src[0].item(), "is not a number")
    return _reshape(name, out, dims)


def decode_binary_data(name: str, datatype: str, shape: Sequence[int], raw: bytes | memoryview) -> npt.NDArray[Any]:
    """Turn one tensor's raw bytes (Triton's binary extension, little-endian) into a writable array of ``shape``.

    ``BYTES`` elements are each a 4-byte little-endian length followed by that many bytes; the raw size must be
    exactly what the shape and datatype need.
    """
    dtype = _check_datatype(name, datatype)
    dims = _check_shape(name, shape)
    want = math.prod(dims)
    if datatype == "BYTES":
        return _reshape(name, _decode_bytes(name, want, memoryview(raw)), dims)
    size = want * dtype.itemsize
    if len(raw) != size:
        raise InvalidInputError(
            f"{name!r}: shape {list(dims)} of {datatype} needs {size} bytes but binary data has {len(raw)}",
            hint="set parameters.binary_data_size to the tensor's byte size and send the raw little-endian values",
        )
    if datatype == "BOOL":
        u8 = np.frombuffer(raw, dtype=np.uint8)
        if u8.size and int(u8.max()) > 1:
            i = int(np.flatnonzero(u8 > 1)[0])
            raise _misfit(name, datatype, i, int(u8[i]), "is neither byte 0 nor byte 1")
        return _reshape(name, u8.view(np.bool_).copy(), dims)
    return _reshape(name, np.frombuffer(raw, dtype=dtype).copy(), dims)


def _decode_bytes(name: str, want: int, raw: memoryview) -> npt.NDArray[Any]:
    if want > len(raw) // 4:  # every element needs its 4-byte length: refuse before allocating for the shape
        raise InvalidInputError(
            f"{name!r}: binary BYTES data ends before element {len(raw) // 4} of {want} (each needs a 4-byte length)",
            hint="prefix every element with its length as a 4-byte little-endian unsigned integer",
        )
    out = np.empty(want, dtype=object)
    pos, end = 0, len(raw)
    for i in range(want):
        if pos + 4 > end:
            raise InvalidInputError(
                f"{name!r}: binary BYTES data ends before element {i} of {want}",
                hint="prefix every element with its length as a 4-byte little-endian unsigned integer",
            )
        (n,) = _LEN.unpack_from(raw, pos)
        pos += 4
        if pos + n > end:
            raise InvalidInputError(
                f"{name!r}: binary BYTES element {i} declares {n} bytes but only {end - pos} remain",
                hint="prefix every element with its exact length as a 4-byte little-endian unsigned integer",
            )
        out[i] = bytes(raw[pos : pos + n])
        pos += n
    if pos != end:
        raise InvalidInputError(
            f"{name!r}: binary BYTES data has {end - pos} bytes left over after {want} elements",
            hint="send exactly as many elements as the shape's sizes multiply to",
        )
    return out


def encode_binary_data(tensor: Tensor) -> bytes:
    """The tensor's data in Triton's binary form (little-endian; ``BYTES`` length-prefixed)."""
    if tensor.datatype == "BYTES":
        parts: list[bytes] = []
        for v in tensor.data.reshape(-1).tolist():
            b = _to_bytes(v)
            parts += (_LEN.pack(len(b)), b)
        return b"".join(parts)
    return np.ascontiguousarray(tensor.data, dtype=DATATYPES[tensor.datatype]).tobytes()


def to_json_data(tensor: Tensor) -> list[Any]:
    """The tensor's data as one flat row-major JSON list; ``BYTES`` elements become UTF-8 strings.

    A ``BYTES`` element that is not valid UTF-8 cannot travel in JSON: that raises
    :class:`~modelpilot.errors.InvalidInputError` with a hint to ask for binary output.
    """
    flat = tensor.data.reshape(-1).tolist()
    if tensor.datatype != "BYTES":
        return flat
    out: list[Any] = []
    for i, v in enumerate(flat):
        try:
            out.append(v.decode("utf-8") if isinstance(v, bytes) else _to_bytes(v).decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"output {tensor.name!r}: BYTES element {i} is not UTF-8 text, so it cannot be sent as JSON",
                hint="request the output as binary data (parameters.binary_data=true)",
            ) from exc
    return out
