"""Sketches merge by addition: merging the parts gives what one sketch over the union holds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpilot.errors import InvalidInputError
from modelpilot.monitoring.columns import Column, NumericColumn, categorical_column, numeric_column, quantile_edges
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
    assert a.rows == b.rows and a.events == b.events and a.flagged_rows == b.flagged_rows
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
    assert back.flagged_rows == s.flagged_rows == 3  # all but the first row
    old = {k: v for k, v in s.to_state().items() if k != "flagged_rows"}  # saved before rows were flagged
    assert Sketch.from_state(LAYOUT, old).flagged_rows == 0
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


# ----------------------------------------------------------------------------------------------- flagged rows
def _x_bad(v: object, edges: list[float], missing_ok: bool = False) -> bool:
    """Brute force: is a value of the numeric column a violation (missing unless the reference had missing values,
    wrong type, non-finite, out of range)?"""
    if v is None or (isinstance(v, float) and v != v):
        return not missing_ok
    if isinstance(v, bool) or not isinstance(v, int | float | np.number):
        return True
    f = float(v)
    return not np.isfinite(f) or f < edges[0] or f > edges[-1]


def _c_bad(v: object, known: list[str] | None, missing_ok: bool = False) -> bool:
    """Brute force: is a value of the categorical column a violation (missing unless the reference had missing
    values, or a category never seen)?"""
    if v is None or (isinstance(v, float) and v != v):
        return not missing_ok
    return known is not None and str(v) not in known


def _brute_flagged(layout: Layout, data: dict[str, list[object]], rows: int) -> int:
    """Rows with a violation in any column, one row at a time; an absent column flags every row."""
    if any(c.key not in data for c in layout.columns):
        return rows

    def bad(col: Column, v: object) -> bool:
        ok = col.missing > 0
        return _x_bad(v, col.edges, ok) if isinstance(col, NumericColumn) else _c_bad(v, col.known, ok)

    return sum(any(bad(col, data[col.key][r]) for col in layout.columns) for r in range(rows))


flag_values = st.one_of(values, st.just(True), st.integers(-5, 5))
flag_cats = st.one_of(cats, st.just(np.nan), st.just(3))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(flag_values, flag_cats), min_size=0, max_size=40),
    st.sampled_from([("x", "c"), ("x",), ("c",), ()]),
)
def test_flagged_rows_match_a_row_by_row_count(rows: list[tuple[object, object]], sent: tuple[str, ...]) -> None:
    data = {"x": [r[0] for r in rows], "c": [r[1] for r in rows]}
    data = {k: v for k, v in data.items() if k in sent}
    s = Sketch(LAYOUT).update({k: np.array(v, dtype=object) for k, v in data.items()}, rows=len(rows))
    assert s.flagged_rows == _brute_flagged(LAYOUT, data, len(rows))
    assert int(s.quality_counts.sum(axis=1).max()) <= s.flagged_rows <= s.rows  # one field per value at most


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_flagged_rows_over_many_columns_match_a_row_by_row_count_and_merge(seed: int) -> None:
    rng = np.random.default_rng(seed)
    layout = Layout(
        [
            *(numeric_column(f"n{j}", "feature", rng.normal(0, 1, 500)) for j in range(3)),
            categorical_column("k", "feature", rng.choice(list("abcdef"), 500), top_k=3),
            categorical_column("open", "feature", rng.choice(list("ab"), 500), known_limit=1),  # no known list
            # columns the reference itself had missing values in: a missing value is no violation there
            numeric_column("gaps", "feature", np.where(rng.random(500) < 0.1, np.nan, rng.normal(0, 1, 500))),
            categorical_column("sparse", "feature", np.array([None if g else "a" for g in rng.random(500) < 0.1])),
        ]
    )
    rows = 300
    data: dict[str, list[object]] = {}
    for j in range(3):
        x = rng.normal(0, 1.3, rows).astype(object)  # tails beyond the reference range
        for bad, share in ((np.nan, 0.02), (np.inf, 0.01), (None, 0.02), ("text", 0.01)):
            x[rng.random(rows) < share] = bad
        data[f"n{j}"] = list(x)
    k = rng.choice(list("abcdefgz"), rows, p=[0.2, 0.2, 0.2, 0.15, 0.1, 0.1, 0.03, 0.02]).astype(object)
    k[rng.random(rows) < 0.03] = None
    data["k"] = list(k)
    data["open"] = list(rng.choice(["a", "b", "never"], rows).astype(object))
    gaps = rng.normal(0, 1, rows).astype(object)
    for bad, share in ((np.nan, 0.05), (None, 0.05), ("text", 0.01), (np.inf, 0.01)):
        gaps[rng.random(rows) < share] = bad
    data["gaps"] = list(gaps)
    picks = rng.choice(["a", "new"], rows, p=[0.97, 0.03])
    data["sparse"] = [None if gap else str(v) for gap, v in zip(rng.random(rows) < 0.1, picks, strict=True)]
    arrays = {key: np.array(v, dtype=object) for key, v in data.items()}
    arrays["n0"] = np.array([np.nan if v is None or isinstance(v, str) else v for v in data["n0"]], dtype=float)
    data["n0"] = [float(v) for v in arrays["n0"]]  # one column sent as float64 (the numeric fast path)
    whole = Sketch(layout).update(arrays, rows=rows)
    want = _brute_flagged(layout, data, rows)
    assert 0 < want < rows and whole.flagged_rows == want
    cut = int(rng.integers(1, rows))
    a = Sketch(layout).update({key: v[:cut] for key, v in arrays.items()}, rows=cut)
    b = Sketch(layout).update({key: v[cut:] for key, v in arrays.items()}, rows=rows - cut)
    assert a.merge(b).flagged_rows == want
    back = Sketch.from_state(layout, json.loads(json.dumps(a.to_state())))
    assert back.merge(b).flagged_rows == want


def test_clean_rows_are_not_flagged_and_absent_columns_flag_every_row() -> None:
    clean = Sketch(LAYOUT).update({"x": np.array([0.0, 0.5, -0.5]), "c": np.array(["a", "b", "d"])}, rows=3)
    assert clean.flagged_rows == 0
    assert Sketch(LAYOUT).update({"x": np.array([0.0, 0.5])}, rows=2).flagged_rows == 2
    assert Sketch(LAYOUT).update({}, rows=0, errors=1).flagged_rows == 0  # a failed call: no rows


def test_only_input_columns_flag_rows() -> None:
    rng = np.random.default_rng(1)
    layout = Layout(
        [numeric_column("x", "feature", rng.normal(0, 1, 300)), numeric_column("p", "prediction", rng.random(300))]
    )
    odd_prediction = Sketch(layout).update({"x": np.zeros(3), "@p": np.array([np.inf, 0.5, np.nan])}, rows=3)
    assert odd_prediction.flagged_rows == 0 and odd_prediction.quality("@p")["nonfinite"] == 1
    assert Sketch(layout).update({"x": np.zeros(3)}, rows=3).flagged_rows == 0  # no outputs sent: not the inputs' fault
    assert Sketch(layout).update({"@p": np.zeros(3)}, rows=3).flagged_rows == 3  # an input missing: every row
