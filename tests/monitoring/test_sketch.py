"""Sketches merge by addition: merging the parts gives what one sketch over the union holds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpilot.errors import InvalidInputError
from modelpilot.monitoring.columns import categorical_column, numeric_column, quantile_edges
from modelpilot.monitoring.sketch import Layout, Sketch
from modelpilot.monitoring.windows import Windower, WindowPolicy

RNG = np.random.default_rng(3)
LAYOUT = Layout(
    [
        numeric_column("x", "feature", RNG.normal(0, 1, 1000)),
        categorical_column("c", "feature", RNG.choice(["a", "b", "c", "d"], 1000), top_k=2),
    ]
)

values = st.one_of(
    st.floats(min_value=-1e12, max_value=1e12),
    st.sampled_from([np.nan, np.inf, -np.inf, 1e300]),
    st.none(),
    st.sampled_from(["oops", "1.5"]),
)
cats = st.one_of(st.sampled_from(["a", "b", "c", "d", "zz"]), st.none())


def _sketch(xs: list[object], cs: list[object]) -> Sketch:
    return Sketch(LAYOUT).update(
        {"x": np.array(xs, dtype=object), "c": np.array(cs, dtype=object)}, rows=len(xs), time=float(len(xs))
    )


def _same(a: Sketch, b: Sketch) -> None:
    assert a.rows == b.rows and a.events == b.events
    assert np.array_equal(a.counts, b.counts)
    assert np.array_equal(a.present, b.present)
    assert np.array_equal(a.quality_counts, b.quality_counts)
    assert np.array_equal(a.low, b.low) and np.array_equal(a.high, b.high)
    np.testing.assert_allclose(a.total, b.total, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(a.total_sq, b.total_sq, rtol=1e-12, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(values, cats), min_size=2, max_size=60), st.data())
def test_merge_of_parts_equals_one_pass_over_the_union(rows: list[tuple[object, object]], data: st.DataObject) -> None:
    cut = data.draw(st.integers(1, len(rows) - 1))
    xs, cs = [r[0] for r in rows], [r[1] for r in rows]
    whole = Sketch(LAYOUT).update({"x": np.array(xs, dtype=object), "c": np.array(cs, dtype=object)}, rows=len(rows))
    a = Sketch(LAYOUT).update({"x": np.array(xs[:cut], dtype=object), "c": np.array(cs[:cut], dtype=object)}, rows=cut)
    b = Sketch(LAYOUT).update(
        {"x": np.array(xs[cut:], dtype=object), "c": np.array(cs[cut:], dtype=object)}, rows=len(rows) - cut
    )
    merged = a.merge(b)
    merged.events = whole.events  # one update call vs two: the event count differs by design
    _same(merged, whole)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.tuples(values, cats), min_size=1, max_size=20), min_size=3, max_size=3))
def test_merge_is_associative_and_commutative(parts: list[list[tuple[object, object]]]) -> None:
    a, b, c = (_sketch([r[0] for r in p], [r[1] for r in p]) for p in parts)
    _same(a.merge(b).merge(c), a.merge(b.merge(c)))
    _same(a.merge(b), b.merge(a))


def test_quality_counts_each_kind_of_bad_value() -> None:
    s = Sketch(LAYOUT).update(
        {
            "x": np.array([None, np.nan, np.inf, "text", 1e9, 0.0], dtype=object),
            "c": np.array(["a", None, "zz", "c", "a", "b"], dtype=object),
        },
        rows=6,
    )
    assert s.quality("x") == {
        "missing": 2,
        "nonfinite": 1,
        "wrong_type": 1,
        "out_of_range": 1,
        "unseen": 0,
        "absent": 0,
    }
    assert s.quality("c")["missing"] == 1 and s.quality("c")["unseen"] == 1
    col = LAYOUT.columns[1]
    assert col.kind == "categorical"
    sent = ["a", "zz", "c", "a", "b"]
    want = [sent.count(c) for c in col.categories]
    assert s.column_counts("c").tolist() == [*want, len(sent) - sum(want)]  # top-2 categories, then "other"
    t = Sketch(LAYOUT).update({"x": np.zeros(4)}, rows=4)
    assert t.quality("c")["absent"] == 4


def test_state_round_trips_through_json() -> None:
    s = _sketch([0.1, None, 7.0, "x"], ["a", "b", None, "zz"])
    back = Sketch.from_state(LAYOUT, json.loads(json.dumps(s.to_state())))
    _same(back, s)
    assert back.start == s.start and back.quality("x") == s.quality("x")
    other = Layout([numeric_column("y", "feature", np.arange(5.0))])
    with pytest.raises(InvalidInputError, match="columns differ"):
        Sketch.from_state(other, s.to_state())


def test_wrong_length_column_is_refused_before_anything_is_counted() -> None:
    s = Sketch(LAYOUT)
    with pytest.raises(InvalidInputError, match="2 values for 3 rows"):
        s.update({"x": np.zeros(2)}, rows=3)


def test_discrete_columns_keep_one_bin_per_value() -> None:
    assert quantile_edges(np.array([0.0, 1.0, 1.0, 2.0]), bins=20) == [0.0, 0.5, 1.5, 2.0]
    col = numeric_column("flag", "feature", np.array([0, 1, 1, 1, 0, 2]))
    assert col.counts == [0, 2, 3, 1, 0]
    constant = numeric_column("k", "feature", np.full(10, 3.0))
    assert constant.edges == [3.0, 3.0] and constant.counts == [0, 10, 0]


def test_count_windows_split_batches_exactly_and_time_windows_close_on_time() -> None:
    w = Windower(LAYOUT, WindowPolicy(rows=7, seconds=10))
    sizes: list[int] = []
    for t in range(5):
        sizes += [s.rows for s in w.add({"x": RNG.normal(size=5)}, rows=5, time=float(t))]
    assert sizes == [7, 7, 7] and w.current.rows == 4
    assert [s.rows for s in w.add({"x": RNG.normal(size=1)}, rows=1, time=14.0)] == [4]  # 10 s after it opened
    assert w.tick(now=23.9) == [] and [s.rows for s in w.tick(now=24.0)] == [1]
    assert w.flush() == []
