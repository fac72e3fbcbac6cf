"""The columnar batch path gives what taking events one at a time gives: the same windows, statistics and alarms.

Two levels, both over random streams (Hypothesis): :meth:`Windower.add_batch` against a plain per-event windower kept
here as the reference (the rules of ``modelpilot.monitoring.windows`` written the obvious way), and
:meth:`Monitor.process` on batches of every size against the same monitor fed one event per call — several models
interleaved, late and duplicated events, failed and malformed calls, absent, unknown and wrongly typed columns,
predictions outside the profile's classes. Counts must be equal; float sums may differ only by rounding (the batch
adds many rows in one ``numpy`` sum).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelpilot.events import InferenceEvent, LabelEvent
from modelpilot.monitoring.columns import categorical_column, numeric_column
from modelpilot.monitoring.engine import Monitor
from modelpilot.monitoring.performance.calibration import Calibrator
from modelpilot.monitoring.profile import ReferenceProfile, build_profile
from modelpilot.monitoring.sketch import Layout, Sketch
from modelpilot.monitoring.windows import Windower, WindowPolicy
from tests.monitoring.close import assert_close

LAYOUT = Layout(
    [
        numeric_column("x", "feature", np.linspace(-2.0, 2.0, 200), bins=6),
        categorical_column("c", "feature", np.array(["a", "b", "c"] * 30, dtype=object)),
    ]
)


def _reference_add(
    w: Windower,
    columns: Mapping[str, npt.NDArray[Any]],
    *,
    rows: int,
    time: float | None,
    errors: int,
    latency_s: float | None,
) -> list[Sketch]:
    """One event, the obvious way: close on time before it, then fill windows row by row."""
    out: list[Sketch] = []

    def close() -> None:
        out.append(w.current)
        w.current = Sketch(w.layout)
        w.closed += 1

    cur = w.current
    if time is not None and cur.start is not None and time - cur.start >= w.policy.seconds and (cur.rows or cur.events):
        close()
    if rows == 0:
        w.current.update({}, rows=0, time=time, errors=errors, latency_s=latency_s)
        return out
    done = 0
    while done < rows:
        take = min(w.policy.rows - w.current.rows, rows - done)
        part = {k: v[done : done + take] for k, v in columns.items()}
        first = done == 0
        w.current.update(
            part,
            rows=take,
            time=time,
            errors=errors if first else 0,
            latency_s=latency_s if first else None,
            events=int(first),
        )
        done += take
        if w.current.rows >= w.policy.rows:
            close()
    return out


def _same_sketch(a: Sketch, b: Sketch) -> None:
    assert (a.rows, a.events, a.errors, a.flagged_rows) == (b.rows, b.events, b.errors, b.flagged_rows)
    assert (a.latency_sum, a.latency_max, a.start, a.end) == (b.latency_sum, b.latency_max, b.start, b.end)
    assert a.counts.tolist() == b.counts.tolist()
    assert a.present.tolist() == b.present.tolist()
    assert a.quality_counts.tolist() == b.quality_counts.tolist()
    assert a.low.tolist() == b.low.tolist() and a.high.tolist() == b.high.tolist()
    np.testing.assert_allclose(a.total, b.total, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(a.total_sq, b.total_sq, rtol=1e-9, atol=1e-9)


_value = st.one_of(
    st.floats(-3, 3, allow_nan=False),
    st.just(float("nan")),
    st.just(float("inf")),
    st.just(99.0),
)
_window_event = st.tuples(
    st.integers(0, 9),  # rows (0: an event without rows)
    st.floats(0, 30),  # time step, or a late event when negative below
    st.booleans(),  # late: this event's time is before the previous one
    st.booleans(),  # failed call
    st.booleans(),  # the categorical column is absent
    st.integers(0, 2**31),  # seed of its values
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(_window_event, min_size=1, max_size=40),
    window_rows=st.integers(1, 15),
    window_s=st.floats(1, 40),
    run_len=st.integers(1, 8),
)
def test_add_batch_closes_the_windows_one_event_at_a_time_would(
    events: list[tuple[int, float, bool, bool, bool, int]], window_rows: int, window_s: float, run_len: int
) -> None:
    policy = WindowPolicy(rows=window_rows, seconds=window_s)
    ref, batch = Windower(LAYOUT, policy), Windower(LAYOUT, policy)
    expected: list[tuple[int, Sketch]] = []
    t = 1000.0
    times: list[float | None] = []
    rows: list[int] = []
    errors: list[int] = []
    lats: list[float | None] = []
    cols: list[dict[str, npt.NDArray[Any]]] = []
    for e, (n, step, late, failed, absent, seed) in enumerate(events):
        t = t - step if late else t + step
        rng = np.random.default_rng(seed)
        c: dict[str, npt.NDArray[Any]] = {"x": rng.normal(0, 1.5, n)}
        if not absent:
            c["c"] = rng.choice(np.array(["a", "b", "z", None], dtype=object), n)
        n_rows = 0 if failed else n
        lat = float(rng.uniform(0.001, 0.1))
        expected += [(e, s) for s in _reference_add(ref, c if n_rows else {}, rows=n_rows, time=t,
                                                    errors=int(failed), latency_s=lat)]  # fmt: skip
        times.append(t)
        rows.append(n_rows)
        errors.append(int(failed))
        lats.append(lat)
        cols.append(c)
    # runs: consecutive events with the same columns, at most run_len long
    runs = []
    start = 0
    while start < len(events):
        end = start + 1
        keys = set(cols[start])
        while end < len(events) and end - start < run_len and set(cols[end]) == keys:
            end += 1
        run_cols = {k: np.concatenate([cols[i][k] if rows[i] else cols[i][k][:0] for i in range(start, end)])
                    for k in keys}  # fmt: skip
        runs.append((end, run_cols))
        start = end
    got = batch.add_batch(times=times, rows=rows, errors=errors, latencies=lats, runs=runs)
    assert [e for e, _ in got] == [e for e, _ in expected]
    for (_, a), (_, b) in zip(got, expected, strict=True):
        _same_sketch(a, b)
    _same_sketch(batch.current, ref.current)
    assert batch.closed == ref.closed


# ------------------------------------------------------------------------------------------------ the monitor
FEATURES = ["f0", "f1", "f2"]


def _profile(seed: int, *, numeric: list[str]) -> ReferenceProfile:
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {f: rng.normal(0, 1, 3000) for f in numeric}
    data["plan"] = rng.choice(["basic", "plus", "pro"], 3000).astype(object)
    score = data["f0"] + 0.5 * data.get("f1", 0.0)
    proba = np.column_stack([1 / (1 + np.exp(score)), 1 / (1 + np.exp(-score))])
    truth = (rng.uniform(size=3000) < proba[:, 1]).astype(int)
    return build_profile(
        data,
        numeric=numeric,
        categorical=["plan"],
        predictions=(score > 0).astype(int),
        probabilities=proba,
        classes=[0, 1],
        calibration=Calibrator.fit(truth.astype(str), proba, classes=["0", "1"]).to_state(),
    )


PROFILES = {("credit", 1): _profile(1, numeric=FEATURES), ("fraud", 2): _profile(2, numeric=["f0"])}
assert PROFILES["credit", 1].multivariate is not None and PROFILES["fraud", 2].multivariate is None
assert PROFILES["credit", 1].calibration is not None  # windows estimate performance


def _event(i: int, spec: tuple[int, int, int, int, float, int], t: float) -> InferenceEvent | LabelEvent:
    model_i, kind, rows, dup, shift, seed = spec
    rng = np.random.default_rng(seed)
    model, version = [("credit", 1), ("fraud", 2), ("other", 1)][model_i]
    if kind == 9:
        return LabelEvent(request_id=f"r{i}", label=1, time=t)
    feats: dict[str, npt.NDArray[Any]] = {f: rng.normal(shift, 1, rows) for f in FEATURES}
    feats["plan"] = rng.choice(["basic", "plus", "pro", "gold"], rows).astype(object)
    score = feats["f0"] + 0.5 * feats["f1"]
    prediction: npt.NDArray[Any] = (score > 0).astype(np.int64)
    proba = np.column_stack([1 / (1 + np.exp(score)), 1 / (1 + np.exp(-score))])
    status = 200
    if kind == 1:
        status = 503
    elif kind == 2:  # malformed: a column one value short
        feats["f1"] = feats["f1"][:-1] if rows else np.zeros(1)
    elif kind == 3:
        del feats["plan"]
    elif kind == 4:
        feats["extra"] = np.ones(rows)
    elif kind == 5:  # wrongly typed values
        feats["f2"] = np.array(["x"] * rows, dtype=object)
    elif kind == 6:  # predictions outside the profile's classes
        prediction = np.full(rows, 7, dtype=np.int64)
    elif kind == 7:  # integer features: another kind of column, not concatenated with floats
        feats["f0"] = np.round(feats["f0"]).astype(np.int64)
    return InferenceEvent(
        request_id=f"r{i - dup}",  # dup > 0: the id of an earlier event (a redelivery)
        time=t,
        model=model,
        version=version,
        variant="canary" if seed % 5 == 0 else "stable",
        features=feats,
        prediction=None if status != 200 else prediction,
        probabilities=None if status != 200 else proba,
        classes=(0, 1),
        latency_s=float(rng.uniform(0.001, 0.05)) * (10 if i > 60 else 1),
        status=status,
    )


def _by_stream(results: list[Any]) -> dict[tuple[str, int, str], list[dict[str, Any]]]:
    out: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for r in results:
        out.setdefault((r.model, r.version, r.variant), []).append(r.model_dump())
    return out


_spec = st.tuples(
    st.integers(0, 2),  # model: credit (profiled, multivariate), fraud (profiled), other (no profile)
    st.sampled_from([0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 9]),  # kind (0: plain, 9: a label)
    st.integers(0, 12),  # rows
    st.sampled_from([0, 0, 0, 0, 0, 1, 3]),  # duplicate of an earlier id
    st.sampled_from([0.0, 0.0, 1.5]),  # shift
    st.integers(0, 2**31),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=st.lists(_spec, min_size=1, max_size=120),
    steps=st.lists(st.floats(-5, 20), min_size=1, max_size=120),
    cuts=st.lists(st.integers(1, 40), min_size=1, max_size=30),
    window_rows=st.integers(5, 60),
)
def test_process_in_batches_of_any_size_equals_one_event_at_a_time(
    specs: list[tuple[int, int, int, int, float, int]], steps: list[float], cuts: list[int], window_rows: int
) -> None:
    t = 1000.0
    events = []
    for i, spec in enumerate(specs):
        t += steps[i % len(steps)]  # negative steps: late events
        events.append(_event(i, spec, t))
    clock = [t]

    def make() -> Monitor:
        return Monitor(
            lambda m, v: PROFILES.get((m, v)),
            policy=WindowPolicy(rows=window_rows, seconds=25.0),
            clock=lambda: clock[0],
        )

    one, many = make(), make()
    expected = [r for ev in events for r in one.observe(ev)]
    got = []
    pos = 0
    for j in range(len(events)):
        if pos >= len(events):
            break
        size = cuts[j % len(cuts)]
        got += many.process(events[pos : pos + size])
        pos += size
    expected += one.tick(t + 100.0)
    got += many.tick(t + 100.0)
    expected += one.flush()
    got += many.flush()
    assert_close(_by_stream(got), _by_stream(expected))
    assert many.counters == one.counters
    assert_close(many.to_state(), one.to_state())


def test_the_event_that_closes_a_window_counts_in_it_unknown_columns_and_all() -> None:
    def ev(i: int, rows: int, extra: bool) -> InferenceEvent:
        feats: dict[str, npt.NDArray[Any]] = {f: np.zeros(rows) for f in FEATURES}
        feats["plan"] = np.array(["basic"] * rows, dtype=object)
        if extra:
            feats["extra"] = np.ones(rows)
        return InferenceEvent(request_id=f"r{i}", time=1000.0 + i, model="credit", version=1, variant="stable",
                              features=feats, prediction=np.zeros(rows, dtype=np.int64), latency_s=0.01,
                              status=200)  # fmt: skip

    events = [ev(0, 6, False), ev(1, 6, True), ev(2, 3, True)]  # the second one closes the first window
    for batch in ([events], [[e] for e in events]):
        mon = Monitor(lambda m, v: PROFILES.get((m, v)), policy=WindowPolicy(rows=10))
        results = [r for b in batch for r in mon.process(b)]
        assert [(r.rows, r.events, r.unknown_columns) for r in results] == [(10, 2, {"extra": 6})]
        assert [(r.rows, r.unknown_columns) for r in mon.flush()] == [(5, {"extra": 3})]


def _plain(i: int, feats: dict[str, npt.NDArray[Any]], *, status: int = 200, prediction: Any = None) -> InferenceEvent:
    rows = len(next(iter(feats.values()))) if feats else 0
    pred = np.zeros(rows, dtype=np.int64) if prediction is None else prediction
    return InferenceEvent(request_id=f"p{i}", time=1000.0 + i, model="credit", version=1, variant="stable",
                          features=feats, prediction=pred, latency_s=0.01, status=status)  # fmt: skip


def _base(rows: int) -> dict[str, npt.NDArray[Any]]:
    out: dict[str, npt.NDArray[Any]] = {f: np.zeros(rows) for f in FEATURES}
    out["plan"] = np.array(["basic"] * rows, dtype=object)
    return out


def test_a_malformed_event_and_a_failed_call_ahead_of_a_run_leave_its_unknown_columns_counted() -> None:
    """Found in review: the run's unknown columns were read from its first member, which may be a failed call."""
    bad = _base(3) | {"extra": np.ones(2)}  # one value short: malformed
    events = [
        _plain(0, bad),
        _plain(1, {}, status=503, prediction=np.zeros(0)),
        _plain(2, _base(3) | {"extra": np.ones(3)}),
    ]
    got = [Monitor(lambda m, v: PROFILES.get((m, v)), policy=WindowPolicy(rows=100)) for _ in range(2)]
    got[0].process(events)
    for ev in events:
        got[1].process([ev])
    for mon in got:
        (r,) = mon.flush()
        assert r.unknown_columns == {"extra": 3} and mon.counters["malformed"] == 1 and mon.counters["failed"] == 1


def test_a_scalar_where_an_array_belongs_is_malformed_and_costs_nothing_else() -> None:
    """Found in review: a 0-d prediction made the batch raise (every event of it lost)."""
    events = [_plain(0, _base(2)), _plain(1, _base(2), prediction=np.asarray(np.int64(1))), _plain(2, _base(2))]
    mon = Monitor(lambda m, v: PROFILES.get((m, v)), policy=WindowPolicy(rows=100))
    mon.process(events)
    assert mon.counters["malformed"] == 1 and mon.counters["rows"] == 4
    (r,) = mon.flush()
    assert r.rows == 4 and r.events == 2
