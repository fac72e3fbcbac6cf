"""Columnar batches: inference events of one model through an Arrow stream and back unchanged, grouped without
reordering a model's events, and bad batches refused with the field named."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpilot.errors import InvalidInputError
from modelpilot.events import InferenceEvent, LabelEvent
from modelpilot.events.cloudevents import MODELPILOT_INFERENCE_BATCH, events_of, parse_http
from modelpilot.events.columnar import from_arrow, groups, layout, to_arrow
from modelpilot.events.kafka import decode_many, encode_batch

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
words = st.one_of(st.none(), st.sampled_from(["north", "south", "é", ""]))


@st.composite
def batches(draw: Any) -> list[InferenceEvent]:
    """Events of one layout: float, int and text features, prediction and probabilities or not, some failed."""
    proba = draw(st.booleans())
    pred = proba or draw(st.booleans())
    out = []
    for i in range(draw(st.integers(1, 12))):
        rows = draw(st.integers(0, 4))
        failed = draw(st.integers(0, 5)) == 0
        feats = {
            "income": np.array(draw(st.lists(floats, min_size=rows, max_size=rows)), dtype=np.float64),
            "age": np.array(draw(st.lists(st.integers(-(2**40), 2**40), min_size=rows, max_size=rows)), np.int64),
            "region": np.array(draw(st.lists(words, min_size=rows, max_size=rows)), dtype=object),
        }
        out.append(
            InferenceEvent(
                request_id=f"r{i}", time=draw(st.floats(0, 2e9)), model="credit", version=draw(st.integers(1, 9)),
                variant=draw(st.sampled_from(["stable", "canary", "shadow", "fallback"])), features=feats,
                prediction=np.arange(rows, dtype=np.int64) if pred else None,
                probabilities=np.full((rows, 2), 0.5) if proba else None, classes=(0, 1) if proba else None,
                latency_s=draw(st.floats(0, 10)), status=500 if failed else 200, error="boom" if failed else None,
                protocol=draw(st.sampled_from(["v1", "v2", "shadow"])),
            )
        )  # fmt: skip
    return out


def _same(a: InferenceEvent, b: InferenceEvent) -> None:
    assert (a.request_id, a.time, a.model, a.version, a.variant, a.latency_s, a.status, a.error, a.protocol) == (
        b.request_id, b.time, b.model, b.version, b.variant, b.latency_s, b.status, b.error, b.protocol,
    )  # fmt: skip
    assert a.features.keys() == b.features.keys() and a.classes == b.classes
    for name in a.features:
        x, y = a.features[name], b.features[name]
        assert x.dtype == y.dtype or (len(x) == 0 and len(y) == 0), name
        assert [repr(v) for v in x.tolist()] == [repr(v) for v in y.tolist()], name  # NaN and ±inf included
    for p, q in ((a.prediction, b.prediction), (a.probabilities, b.probabilities)):
        assert (p is None) == (q is None)
        if p is not None and q is not None:
            assert p.shape == q.shape and p.tolist() == q.tolist()


@settings(max_examples=60, deadline=None)
@given(batches())
def test_a_batch_comes_back_as_the_events_it_holds(events: list[InferenceEvent]) -> None:
    back = from_arrow(to_arrow(events))
    assert len(back) == len(events)
    for a, b in zip(events, back, strict=True):
        _same(b, a)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y"]), st.booleans()), max_size=40))
def test_groups_keep_each_models_order_and_one_layout_per_group(spec: list[tuple[str, str, bool]]) -> None:
    events: list[Any] = []
    for i, (model, feature, label) in enumerate(spec):
        if label:
            events.append(LabelEvent(f"l{i}", 1, 0.0, model))
        else:
            events.append(InferenceEvent(str(i), 0.0, model, 1, "stable", {feature: np.zeros(1)}, None, 0.0, 200))
    got = groups(events)
    assert sorted(id(e) for g in got for e in g) == sorted(id(e) for e in events)  # each event once
    for model in "abc":
        mine = [e for e in events if isinstance(e, InferenceEvent) and e.model == model]
        assert [e for g in got for e in g if isinstance(e, InferenceEvent) and e.model == model] == mine
    for g in got:
        assert len(g) == 1 or len({layout(e) for e in g}) == 1
    labels = [e for g in got for e in g if isinstance(e, LabelEvent)]
    assert labels == [e for e in events if isinstance(e, LabelEvent)]


def test_values_arrow_cannot_put_in_one_column_are_refused_so_the_events_go_one_by_one() -> None:
    mixed = [
        InferenceEvent("r0", 0.0, "m", 1, "stable", {"x": np.array(["a"], dtype=object)}, None, 0.0, 200),
        InferenceEvent("r1", 0.0, "m", 1, "stable", {"x": np.array([1.5], dtype=object)}, None, 0.0, 200),
    ]
    with pytest.raises(ValueError, match="Arrow cannot hold"):
        to_arrow(mixed)
    widths = [
        InferenceEvent("r0", 0.0, "m", 1, "stable", {"x": np.array([1], dtype=np.int64)}, None, 0.0, 200),
        InferenceEvent("r1", 0.0, "m", 1, "stable", {"x": np.array([1.5])}, None, 0.0, 200),
    ]
    with pytest.raises(ValueError, match="different types"):
        to_arrow(widths)


def test_shapes_a_batch_does_not_carry_are_refused_so_the_events_go_one_by_one() -> None:
    two_d = [
        InferenceEvent(f"r{i}", 0.0, "m", 1, "stable", {"x": np.zeros(2)}, np.array([[1, 2, 3], [4, 5, 6]]), 0.0, 200)
        for i in range(2)
    ]  # a multi-output model: (rows, outputs) predictions
    with pytest.raises(ValueError, match="one value per row"):
        to_arrow(two_d)
    flat_proba = [
        InferenceEvent(f"r{i}", 0.0, "m", 1, "stable", {"x": np.zeros(1)}, np.array([1]), 0.0, 200,
                       probabilities=np.array([0.2, 0.8]), classes=(0, 1))
        for i in range(2)
    ]  # fmt: skip
    with pytest.raises((ValueError, IndexError)):
        to_arrow(flat_proba)


def test_a_batch_travels_as_one_cloudevent_on_kafka_and_over_http() -> None:
    events = [InferenceEvent(f"r{i}", 5.0, "m", 1, "stable", {"x": np.array([i, i])}, None, 0.0, 200) for i in range(3)]
    key, value = encode_batch(events)
    doc = orjson.loads(value)
    assert key == b"m" and doc["type"] == MODELPILOT_INFERENCE_BATCH and doc["events"] == 3
    assert doc["datacontenttype"] == "application/vnd.apache.arrow.stream"
    assert [e.request_id for e in decode_many(value)] == ["r0", "r1", "r2"]
    (ce,) = parse_http({"content-type": "application/cloudevents+json"}, value)
    assert [e.features["x"].tolist() for e in events_of(ce)] == [[0, 0], [1, 1], [2, 2]]  # type: ignore[union-attr]


def _table(**changes: Any) -> bytes:
    events = [InferenceEvent("r0", 1.0, "m", 1, "stable", {"x": np.array([1.0])}, np.array([1]), 0.0, 200)]
    table = pa.ipc.open_stream(to_arrow(events)).read_all()
    for name, value in changes.items():
        if value is None:
            table = table.drop_columns([name])
        else:
            table = table.set_column(table.column_names.index(name), name, value)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"not arrow", "data"),
        (_table(request_id=None), "request_id"),
        (_table(variant=pa.array(["blue"])), "variant"),
        (_table(time=pa.array(["soon"])), "time"),
        (_table(version=pa.array([None], pa.int64())), "version"),
        (_table(time=pa.array([float("nan")])), "time"),
    ],
)
def test_a_bad_batch_is_refused_with_the_field_named(data: bytes, field: str) -> None:
    with pytest.raises(InvalidInputError, match=field):
        from_arrow(data)


def test_bad_base64_in_a_batch_message_names_the_field() -> None:
    doc = {"specversion": "1.0", "id": "b", "type": MODELPILOT_INFERENCE_BATCH, "source": "x", "data_base64": "@@"}
    with pytest.raises(InvalidInputError, match="data_base64"):
        decode_many(orjson.dumps(doc))
    doc["data_base64"] = base64.b64encode(b"junk").decode()
    with pytest.raises(InvalidInputError, match=r"batch\.data"):
        decode_many(orjson.dumps(doc))
