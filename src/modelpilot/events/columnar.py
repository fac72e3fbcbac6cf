"""Columnar batches of inference events: the events of one model as one Arrow IPC stream, carried on the Kafka bus
as one CloudEvent of type ``io.modelpilot.inference.batch`` (``datacontenttype``
``application/vnd.apache.arrow.stream``, the bytes in ``data_base64``).

One Arrow row per event: ``request_id``, ``time``, ``version``, ``variant``, ``latency_s``, ``status``, ``error``,
``protocol``, and one list column per feature (``f.<name>``), ``prediction`` and ``probabilities`` (each event's
``rows x classes`` values row by row). The model, the class labels and the probability width are schema metadata,
so a batch holds the events of one model with one *layout*: the same feature names and value types, prediction and
probabilities present or not, the same classes (:func:`layout`). Decoding slices each column's values buffer per
event — no Python object per value — and an event with columns of different lengths is handed on as it is, for
the monitor to set aside as malformed like any other.

Example:
    >>> import numpy as np
    >>> evs = [InferenceEvent(request_id=f"r{i}", time=1.0 + i, model="credit", version=1, variant="stable",
    ...                       features={"age": np.array([30 + i, 40]), "region": np.array(["n", "s"], dtype=object)},
    ...                       prediction=np.array([0, 1]), latency_s=0.01, status=200) for i in range(3)]
    >>> back = from_arrow(to_arrow(evs))
    >>> [(e.request_id, e.features["age"].tolist(), e.features["region"].tolist()) for e in back]
    [('r0', [30, 40], ['n', 's']), ('r1', [31, 40], ['n', 's']), ('r2', [32, 40], ['n', 's'])]
"""

from __future__ import annotations

import base64
import math
from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa

from modelpilot.errors import InvalidInputError
from modelpilot.events.model import InferenceEvent

__all__ = [
    "ARROW_STREAM",
    "MODELPILOT_INFERENCE_BATCH",
    "batch_cloudevent",
    "from_arrow",
    "groups",
    "layout",
    "to_arrow",
]

MODELPILOT_INFERENCE_BATCH = "io.modelpilot.inference.batch"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
_VARIANTS = ("stable", "canary", "shadow", "fallback")
_FEATURE = "f."
_EMPTY = np.empty(0)  # a null feature list: its event's columns disagree on rows, so the monitor sets it aside


def layout(event: InferenceEvent) -> Hashable:
    """What events must share to go in one batch: model, feature names, prediction and probabilities present or
    not, classes (value types are checked when the columns are joined: :func:`to_arrow` refuses a mix).

    >>> import numpy as np
    >>> e = InferenceEvent("r", 0.0, "m", 1, "stable", {"x": np.zeros(2)}, None, 0.0, 500, error="boom")
    >>> layout(e)
    ('m', ('x',), True, True, None)
    """
    return (event.model, tuple(event.features), event.prediction is None, event.probabilities is None, event.classes)


def groups(events: Sequence[Any]) -> list[list[Any]]:
    """``events`` cut into groups that can travel as one batch each: inference events of one :func:`layout`, kept in
    their order per model; every other event alone, in its place.

    >>> import numpy as np
    >>> a, b = ({"x": np.zeros(1)}, {"y": np.zeros(1)})
    >>> evs = [InferenceEvent(str(i), 0.0, m, 1, "stable", f, None, 0.0, 200) for i, (m, f) in
    ...        enumerate([("m", a), ("n", a), ("m", a), ("m", b)])]
    >>> [[e.request_id for e in g] for g in groups(evs)]
    [['0', '2'], ['1'], ['3']]
    """
    out: list[list[Any]] = []
    open_: dict[Hashable, list[Any]] = {}  # the group each layout is filling
    models: dict[str, Hashable] = {}  # the layout each model is filling (a change of layout starts a new group)
    for e in events:
        if not isinstance(e, InferenceEvent):
            out.append([e])
            continue
        key = layout(e)
        group = open_.get(key)
        if group is None or models.get(e.model) != key:
            group = open_[key] = []
            models[e.model] = key
            out.append(group)
        group.append(e)
    return out


def _lists(arrays: Sequence[Any], width: int = 1) -> pa.Array:
    """One list value per event from numpy arrays of one dtype, one value per row (``width`` > 1: rows of that
    many values, the probabilities); object arrays are typed by Arrow (strings, numbers, nulls). ``ValueError``
    when the dtypes differ or an array has another shape (a 2-D prediction travels as single events)."""
    flat = np.concatenate(arrays)
    first = arrays[0]
    if flat.dtype != first.dtype:
        raise ValueError(f"values of different types ({flat.dtype} after joining {first.dtype})")
    if flat.ndim != (1 if width == 1 else 2) or (width != 1 and flat.shape[1] != width):
        raise ValueError(f"arrays of shape {first.shape}: one value per row expected")
    offsets = np.zeros(len(arrays) + 1, dtype=np.int32)
    np.cumsum(np.fromiter(map(len, arrays), dtype=np.int32, count=len(arrays)), out=offsets[1:])
    if width != 1:
        offsets *= width
    flat = flat.ravel()
    values = pa.array(flat.tolist() if flat.dtype.kind == "O" else flat)
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def to_arrow(events: Sequence[InferenceEvent]) -> bytes:
    """An Arrow IPC stream of events sharing one :func:`layout` (``ValueError`` otherwise, or for values Arrow
    cannot type, e.g. mixed strings and numbers in one column: send those events one by one)."""
    if not events:
        raise ValueError("no events")
    first = events[0]
    shape = layout(first)
    if any(layout(e) != shape for e in events[1:]):
        raise ValueError("the events do not share one layout")
    cols: dict[str, pa.Array] = {
        "request_id": pa.array([e.request_id for e in events], pa.string()),
        "time": pa.array([e.time for e in events], pa.float64()),
        "version": pa.array([e.version for e in events], pa.int64()),
        "variant": pa.array([e.variant for e in events], pa.string()),
        "latency_s": pa.array([e.latency_s for e in events], pa.float64()),
        "status": pa.array([e.status for e in events], pa.int32()),
        "error": pa.array([e.error for e in events], pa.string()),
        "protocol": pa.array([e.protocol for e in events], pa.string()),
    }
    width = int(np.shape(first.probabilities)[1]) if first.probabilities is not None else 0
    try:
        for name in first.features:
            cols[_FEATURE + name] = _lists([e.features[name] for e in events])
        if first.prediction is not None:
            cols["prediction"] = _lists([e.prediction for e in events])
        if first.probabilities is not None:
            cols["probabilities"] = _lists([e.probabilities for e in events], width)
    except (pa.ArrowException, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"a column Arrow cannot hold: {exc}") from None
    meta = {
        "model": first.model,
        "classes": orjson.dumps(None if first.classes is None else list(first.classes), default=_plain).decode(),
        "width": str(width),
    }
    table = pa.table(cols).replace_schema_metadata(meta)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _bad(field: str, why: str) -> InvalidInputError:
    return InvalidInputError(f"inference batch.{field}: {why}", hint="write batches with modelpilot's to_arrow()")


def _column(table: pa.Table, name: str, kind: pa.DataType | None = None) -> pa.Array:
    if name not in table.column_names:
        raise _bad(name, "missing")
    col = table.column(name).combine_chunks()
    if kind is not None and not col.type.equals(kind):
        raise _bad(name, f"expected {kind}, got {col.type}")
    return col


def _sliced(table: pa.Table, name: str) -> list[npt.NDArray[Any] | None]:
    """A list column as one numpy array per event (slices of one values buffer; None where the list is null)."""
    col = _column(table, name)
    if not pa.types.is_list(col.type):
        raise _bad(name, f"expected a list column, got {col.type}")
    offsets = col.offsets.to_numpy()
    values = col.values.to_numpy(zero_copy_only=False)  # flattened, nulls as NaN / None
    valid = col.is_valid().to_numpy(zero_copy_only=False) if col.null_count else None
    ends = offsets.tolist()
    return [values[ends[i] : ends[i + 1]] if valid is None or valid[i] else None for i in range(len(col))]


def from_arrow(data: bytes) -> list[InferenceEvent]:
    """The events of a :func:`to_arrow` stream; ``InvalidInputError`` names what is wrong with a bad one."""
    try:
        table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    except (pa.ArrowException, OSError) as exc:
        raise _bad("data", f"not an Arrow IPC stream ({exc})") from None
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    model = meta.get("model")
    if not model:
        raise _bad("model", "missing from the schema metadata")
    try:
        classes = orjson.loads(meta.get("classes", "null"))
        width = int(meta.get("width", "0"))
    except (orjson.JSONDecodeError, ValueError):
        raise _bad("classes", "not JSON / width not an integer") from None
    n = table.num_rows
    rid = _column(table, "request_id", pa.string()).to_pylist()
    time = _column(table, "time", pa.float64()).to_pylist()
    version = _column(table, "version", pa.int64()).to_pylist()
    variant = _column(table, "variant", pa.string()).to_pylist()
    latency = _column(table, "latency_s", pa.float64()).to_pylist()
    status = _column(table, "status", pa.int32()).to_pylist()
    error = _column(table, "error", pa.string()).to_pylist()
    protocol = _column(table, "protocol", pa.string()).to_pylist()
    if any(not r for r in rid) or None in version or None in status:
        raise _bad("request_id/version/status", "a null or empty value")
    if not all(t is not None and math.isfinite(t) for t in time):
        raise _bad("time", "a null or non-finite value (seconds since the epoch)")
    if any(v not in _VARIANTS for v in variant):
        raise _bad("variant", f"not one of {', '.join(_VARIANTS)}")
    names = [c for c in table.column_names if c.startswith(_FEATURE)]
    feats = {c[len(_FEATURE) :]: _sliced(table, c) for c in names}
    pred = _sliced(table, "prediction") if "prediction" in table.column_names else [None] * n
    proba = _sliced(table, "probabilities") if "probabilities" in table.column_names else [None] * n
    if width < 0 or (width == 0 and "probabilities" in table.column_names):
        raise _bad("width", "probabilities need their width (classes per row)")
    klass = None if classes is None else tuple(classes)
    out: list[InferenceEvent] = []
    for i in range(n):
        p = proba[i]
        if p is not None:
            if len(p) % width:
                raise _bad("probabilities", f"event {rid[i]}: {len(p)} values is not rows x {width}")
            p = p.reshape(-1, width)
        out.append(
            InferenceEvent(
                rid[i], time[i], model, version[i], variant[i],
                {name: _EMPTY if cols[i] is None else cols[i] for name, cols in feats.items()},  # type: ignore[misc]
                pred[i], latency[i] or 0.0, status[i], probabilities=p, classes=klass, error=error[i],
                protocol=protocol[i] or "v2",
            )
        )  # fmt: skip
    return out


def batch_cloudevent(events: Sequence[InferenceEvent], *, source: str = "modelpilot") -> dict[str, Any]:
    """A structured-mode CloudEvent holding ``events`` (one :func:`layout`) as an Arrow IPC stream."""
    first = events[0]
    return {
        "specversion": "1.0",
        "id": f"{first.request_id}/{first.variant}+{len(events)}",
        "type": MODELPILOT_INFERENCE_BATCH,
        "source": source,
        "time": datetime.fromtimestamp(first.time).astimezone().isoformat(),
        "datacontenttype": ARROW_STREAM,
        "data_base64": base64.b64encode(to_arrow(events)).decode("ascii"),
        "events": len(events),
    }
