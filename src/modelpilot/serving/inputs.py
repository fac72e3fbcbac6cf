"""Turn request inputs (OIP tensors or v1 records) into a validated batch of named feature columns.

The signature of the version decides: each feature becomes one column of its type (``integer``/``float`` →
float64 or int64, ``boolean`` → bool, ``category``/``string`` → object array of ``str``, ``datetime`` →
``datetime64[ns]``). Missing values are ``None`` in records (NaN in float tensors) and only allowed where the
signature says ``nullable``. Unknown and missing features are refused, naming them.

Two tensor layouts are accepted: one input per feature (named after it, shape ``[rows]`` or ``[rows, 1]``), or a
single 2-D input of shape ``[rows, n_features]`` with columns in signature order.

Example:
    >>> from modelpilot.protocol.signature import Feature, Signature
    >>> sig = Signature(features=[Feature(name="age", type="integer"), Feature(name="plan", type="category")])
    >>> batch = batch_from_records(sig, [{"age": 31, "plan": "a"}, {"age": 45, "plan": "b"}])
    >>> batch["age"].tolist(), batch["plan"].tolist()
    ([31.0, 45.0], ['a', 'b'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from modelpilot.errors import InvalidInputError
from modelpilot.protocol.signature import Feature, Signature
from modelpilot.protocol.tensors import Tensor

__all__ = ["batch_from_records", "batch_from_tensors", "column_for"]

_NUMERIC = ("integer", "float")


def _bad(field: str, message: str, hint: str) -> InvalidInputError:
    return InvalidInputError(f"{field}: {message}", hint=hint, details={"field": field})


def column_for(feature: Feature, values: npt.NDArray[Any] | Sequence[Any], where: str) -> npt.NDArray[Any]:
    """One feature's values as the column type the signature implies (validated)."""
    arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if feature.type in _NUMERIC:
        if arr.dtype.kind in "iuf":
            col = arr.astype(np.float64, copy=False)
        elif arr.dtype.kind == "b":
            col = arr.astype(np.float64)
        else:
            for i, v in enumerate(arr):
                if v is not None and (isinstance(v, bool) or not isinstance(v, int | float | np.number)):
                    raise _bad(
                        where,
                        f"{v!r} at row {i} is not a number",
                        f"send numbers for {feature.type} feature {feature.name!r}",
                    )
            col = np.array([np.nan if v is None else v for v in arr], dtype=np.float64)
        nan = np.isnan(col)
        if nan.any() and not feature.nullable:
            row = int(np.argmax(nan))
            raise _bad(
                where,
                f"missing value (null or NaN) at row {row}",
                f"feature {feature.name!r} may not be missing; send a number",
            )
        return col
    if feature.type == "boolean":
        if arr.dtype.kind == "b":
            return arr
        if arr.dtype == object and all(isinstance(v, bool) or (v is None and feature.nullable) for v in arr):
            if any(v is None for v in arr):
                return arr
            return arr.astype(bool)
        raise _bad(where, "expected true/false values", f"send booleans for feature {feature.name!r}")
    if feature.type in ("category", "string"):
        if arr.dtype.kind in "US":
            out = arr.astype(str).astype(object)
        else:
            out = np.empty(len(arr), dtype=object)
            for i, v in enumerate(arr):
                if v is None:
                    if not feature.nullable:
                        raise _bad(
                            where,
                            f"missing value at row {i}",
                            f"feature {feature.name!r} may not be missing; send a string",
                        )
                    out[i] = None
                elif isinstance(v, bytes):
                    out[i] = v.decode("utf-8", errors="replace")
                elif isinstance(v, str):
                    out[i] = v
                else:
                    raise _bad(where, f"{v!r} at row {i} is not a string", f"send text for feature {feature.name!r}")
        return out
    # datetime
    try:
        return np.array([_instant(v) for v in arr], dtype="datetime64[ns]")
    except (TypeError, ValueError, OverflowError):
        raise _bad(
            where,
            "expected ISO 8601 date-times between 1678 and 2262",
            f'e.g. "2026-11-22T10:00:00" for {feature.name!r}',
        ) from None


_FIRST_NS, _LAST_NS = np.datetime64("1678-01-01", "s"), np.datetime64("2262-04-11", "s")


def _instant(v: Any) -> np.datetime64:
    """One date-time at nanosecond resolution; ValueError for one nanoseconds cannot hold (numpy would wrap it:
    "99999-01-01" became 1793-12-01)."""
    if v is None:
        return np.datetime64("NaT")
    if isinstance(v, bool) or not isinstance(v, str | int | float | np.datetime64 | np.integer):
        raise TypeError(type(v).__name__)
    if isinstance(v, int | np.integer) and not -(2**63) < int(v) < 2**63:
        raise ValueError("out of range")
    at: Any = np.datetime64(v) if isinstance(v, str) else np.datetime64(cast(Any, v), "ns")
    if isinstance(v, str) and not np.isnat(at) and not _FIRST_NS <= at.astype("datetime64[s]") <= _LAST_NS:
        raise ValueError("out of range")
    return cast(np.datetime64, at.astype("datetime64[ns]"))


def _check_rows(rows: int, max_rows: int | None) -> None:
    if rows == 0:
        raise _bad("inputs", "hold no rows", "send at least one row")
    if max_rows is not None and rows > max_rows:
        from modelpilot.errors import PayloadTooLargeError

        raise PayloadTooLargeError(
            f"request has {rows} rows, more than this server's limit of {max_rows}",
            hint="split the batch, or raise serving.max_rows",
        )


def batch_from_records(
    signature: Signature, instances: Any, *, max_rows: int | None = None
) -> dict[str, npt.NDArray[Any]]:
    """Columns from ``[{"feature": value, ...}, ...]`` (the v1 record route)."""
    if not isinstance(instances, list):
        raise _bad("instances", "must be a list of records", 'send {"instances": [{"feature": value, ...}]}')
    if not instances:
        raise _bad("instances", "is empty", "send at least one record")
    _check_rows(len(instances), max_rows)
    names = signature.names
    known = set(names)
    columns: dict[str, list[Any]] = {n: [] for n in names}
    for i, rec in enumerate(instances):
        if not isinstance(rec, dict):
            raise _bad(
                f"instances[{i}]", f"is {type(rec).__name__}, not an object", 'each instance is {"feature": value, ...}'
            )
        if len(rec) != len(names) or rec.keys() != known:
            unknown = sorted(set(rec) - known)
            if unknown:
                raise _bad(f"instances[{i}]", f"unknown feature(s) {unknown}", f"the model's features are {names}")
            for n in names:
                if n not in rec and not signature.feature(n).nullable:  # type: ignore[union-attr]
                    raise _bad(f"instances[{i}].{n}", "missing", f"send every feature of {names}")
        for n in names:
            columns[n].append(rec.get(n))
    return {
        f.name: column_for(
            f,
            np.asarray(columns[f.name]) if f.type in _NUMERIC and _all_numbers(columns[f.name]) else columns[f.name],
            f"instances[*].{f.name}",
        )
        for f in signature.features
    }


def _all_numbers(values: list[Any]) -> bool:
    return all(type(v) in (int, float) for v in values)


def batch_from_tensors(
    signature: Signature, inputs: Sequence[Tensor], *, max_rows: int | None = None
) -> dict[str, npt.NDArray[Any]]:
    """Columns from OIP input tensors: one per feature, or one 2-D tensor in signature order."""
    names = signature.names
    if not inputs:
        raise _bad("inputs", "is empty", f"send one input per feature {names} or one [rows, {len(names)}] input")
    by_name: Mapping[str, Tensor] = {t.name: t for t in inputs}
    if len(inputs) == 1 and inputs[0].name not in set(names) and len(inputs[0].shape) == 2:
        t = inputs[0]
        rows, cols = t.shape
        if cols != len(names):
            raise _bad(
                f"inputs[0] {t.name!r}",
                f"has {cols} columns, the model has {len(names)} features",
                f"send shape [rows, {len(names)}] with columns {names}",
            )
        _check_rows(rows, max_rows)
        if t.data.dtype.kind in "iuf" and all(f.type in _NUMERIC for f in signature.features):
            matrix = t.data.astype(np.float64, copy=False)  # one check for the whole matrix, then column views
            if not all(f.nullable for f in signature.features):
                nan = np.isnan(matrix)
                if nan.any():
                    for j, f in enumerate(signature.features):
                        if not f.nullable and nan[:, j].any():
                            column_for(f, matrix[:, j], f"inputs[0] {t.name!r} column {j}")  # raises, naming it
            return {f.name: matrix[:, j] for j, f in enumerate(signature.features)}
        return {
            f.name: column_for(f, t.data[:, j], f"inputs[0] {t.name!r} column {j}")
            for j, f in enumerate(signature.features)
        }
    unknown = [n for n in by_name if n not in set(names)]
    if unknown:
        raise _bad(
            "inputs",
            f"unknown input(s) {unknown}",
            f"name inputs after the model's features {names}, or send one [rows, {len(names)}] tensor",
        )
    missing = [n for n in names if n not in by_name]
    if missing:
        raise _bad("inputs", f"missing feature input(s) {missing}", f"send one input per feature of {names}")
    rows_seen: set[int] = set()
    out: dict[str, npt.NDArray[Any]] = {}
    for i, f in enumerate(signature.features):
        t = by_name[f.name]
        shape = t.shape
        if len(shape) == 2 and shape[1] == 1:
            data = t.data.reshape(-1)
        elif len(shape) == 1:
            data = t.data
        else:
            raise _bad(f"inputs[{i}] {f.name!r}", f"has shape {list(shape)}", "send shape [rows] or [rows, 1]")
        rows_seen.add(len(data))
        out[f.name] = column_for(f, data, f"inputs[{i}] {f.name!r}")
    if len(rows_seen) > 1:
        raise _bad(
            "inputs",
            f"inputs have different row counts {sorted(rows_seen)}",
            "send the same number of rows for every feature",
        )
    _check_rows(rows_seen.pop(), max_rows)
    return out
