"""LabelJoiner: joins by request id across variants, bounded memory, every non-join counted, JSON round trip."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpilot.errors import InvalidInputError
from modelpilot.events.model import InferenceEvent, LabelEvent
from modelpilot.monitoring.performance.joins import INVALID_REASONS, Joined
from modelpilot.monitoring.performance.labels import DEFAULT_LABEL_TTL_S, DEFAULT_TTL_S, LabelJoiner


class Clock:
    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def joiner(clock: Clock, **kw: Any) -> LabelJoiner:
    return LabelJoiner(clock=clock, **kw)


def add(j: LabelJoiner, rid: str, variant: str = "stable", version: int = 1, **kw: Any) -> Joined | None:
    args: dict[str, Any] = {"time": 100.0, "prediction": np.array([1]), "probabilities": None, "classes": (0, 1)}
    args.update(kw)
    return j.add_prediction(rid, "credit", version, variant, **args)


def test_defaults_are_documented_values() -> None:
    j = LabelJoiner()
    assert (j.max_pending, j.ttl_s, j.max_labels, j.label_ttl_s) == (
        100_000,
        DEFAULT_TTL_S,
        100_000,
        DEFAULT_LABEL_TTL_S,
    )
    assert DEFAULT_TTL_S == 7 * 86_400


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"max_pending": 0}, "max_pending"),
        ({"max_labels": True}, "max_labels"),
        ({"ttl_s": -1.0}, "ttl_s"),
        ({"label_ttl_s": math.inf}, "label_ttl_s"),
    ],
)
def test_bad_settings_name_the_field(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError, match=field):
        LabelJoiner(**kw)


def test_label_joins_prediction_with_rows_and_delay() -> None:
    c = Clock()
    j = joiner(c)
    proba = np.array([[0.2, 0.8], [0.7, 0.3]])
    assert add(j, "r1", prediction=np.array([1, 0]), probabilities=proba, time=100.0) is None
    assert j.pending == 1
    c.t += 30
    (got,) = j.add_label("r1", [1, 1], time=160.0)
    assert got.request_id == "r1" and (got.model, got.version, got.variant) == ("credit", 1, "stable")
    assert got.label.tolist() == [1, 1] and got.prediction.tolist() == [1, 0]
    assert got.probabilities is not None and np.array_equal(got.probabilities, proba)
    assert got.classes == (0, 1) and got.delay_s == 60.0
    assert j.joined == 1 and j.pending == 0
    assert (j.delay.count, j.delay.sum, j.delay.max) == (1, 60.0, 60.0)


def test_scalar_label_for_one_row_and_string_classes() -> None:
    j = joiner(Clock())
    add(j, "a", prediction=np.array(["yes"]), classes=("no", "yes"))
    (got,) = j.add_label("a", "no", time=101.0)
    assert got.label.tolist() == ["no"]


def test_label_goes_to_every_variant_of_the_request() -> None:
    j = joiner(Clock())
    add(j, "r", "stable", 1)
    add(j, "r", "canary", 2)
    add(j, "r", "shadow", 3)
    got = j.add_label("r", 1, time=110.0)
    assert sorted((g.variant, g.version) for g in got) == [("canary", 2), ("shadow", 3), ("stable", 1)]
    assert j.joined == 3 and j.delay.count == 1  # the delay is the request's, counted once


def test_shadow_arriving_after_the_label_still_joins() -> None:
    j = joiner(Clock())
    add(j, "r", "stable", 1)
    assert len(j.add_label("r", 0, time=120.0)) == 1
    late_shadow = add(j, "r", "shadow", 4)
    assert late_shadow is not None and late_shadow.variant == "shadow" and late_shadow.label.tolist() == [0]
    assert j.joined == 2


def test_prediction_arriving_after_its_label_joins() -> None:
    c = Clock()
    j = joiner(c)
    assert j.add_label("r", 1, time=130.0) == []
    assert j.orphans == 1
    c.t += 60
    got = add(j, "r", time=100.0)
    assert got is not None and got.delay_s == 30.0
    assert j.orphans == 0 and j.unknown == 0 and j.joined == 1


def test_orphan_label_that_never_matches_is_unknown() -> None:
    c = Clock()
    j = joiner(c, label_ttl_s=60.0)
    j.add_label("ghost", 1, time=1.0)
    c.t += 59
    assert j.expire() == 0 and j.unknown == 0
    c.t += 1
    assert j.expire() == 1 and j.unknown == 1 and j.orphans == 0


def test_duplicate_label_keeps_the_first() -> None:
    j = joiner(Clock())
    add(j, "r")
    (first,) = j.add_label("r", 1, time=101.0)
    assert j.add_label("r", 0, time=102.0) == []
    assert j.duplicate == 1 and first.label.tolist() == [1]
    assert j.add_label("x", 1, time=1.0) == [] and j.add_label("x", 0, time=2.0) == []
    assert j.duplicate == 2
    assert add(j, "x").label.tolist() == [1]  # type: ignore[union-attr]


def test_redelivered_prediction_is_ignored_and_counted() -> None:
    j = joiner(Clock())
    add(j, "r")
    assert add(j, "r") is None
    assert j.pending == 1 and j.duplicate_predictions == 1
    j.add_label("r", 1, time=101.0)
    assert add(j, "r") is None and j.duplicate_predictions == 2 and j.joined == 1


def test_ttl_expires_predictions_as_missing_and_then_labels_are_late() -> None:
    c = Clock()
    j = joiner(c, ttl_s=100.0)
    add(j, "old")
    c.t += 50
    add(j, "new")
    c.t += 50  # "old" reaches its TTL, "new" has 50 s left
    assert j.expire() == 1
    assert (j.expired, j.evicted, j.missing, j.pending) == (1, 0, 1, 1)
    assert j.add_label("old", 1, time=300.0) == []
    assert j.late == 1 and j.unknown == 0
    c.t += DEFAULT_LABEL_TTL_S  # the late label leaves its buffer: still late, not unknown
    j.expire()
    assert (j.late, j.unknown, j.expired) == (1, 0, 2)


def test_capacity_evicts_oldest_first_and_counts_it() -> None:
    j = joiner(Clock(), max_pending=3)
    for i in range(5):
        add(j, f"r{i}")
    assert j.pending == 3 and j.evicted == 2 and j.expired == 0 and j.missing == 2
    assert j.add_label("r0", 1, time=1.0) == [] and j.late == 1
    assert len(j.add_label("r4", 1, time=1.0)) == 1


def test_label_buffer_is_bounded_and_evicted_orphans_are_unknown() -> None:
    j = joiner(Clock(), max_labels=2)
    for i in range(4):
        j.add_label(f"l{i}", 1, time=1.0)
    assert j.unknown == 2 and j.orphans == 2


@pytest.mark.parametrize(
    ("prediction", "classes", "label", "reason"),
    [
        (np.array([1, 0]), (0, 1), [1], "rows"),
        (np.array([1, 0]), (0, 1), 1, "rows"),
        (np.array([1, 0]), (0, 1), [[1], [0]], "rows"),
        (np.array([1]), (0, 1), {"y": 1}, "rows"),
        (np.array([1]), (0, 1), [2], "unknown_class"),
        (np.array([1]), (0, 1), {1}, "rows"),
        (np.array(["a"]), ("a", "b"), "c", "unknown_class"),
        (np.array([1.5, 2.0]), None, ["x", 1.0], "not_numeric"),
        (np.array([1.5]), None, True, "not_numeric"),
        (np.array([1.5]), None, math.inf, "not_numeric"),
        (np.array([1.5]), None, None, "missing"),
        (np.array([1.5, 1.0]), None, [1.0, math.nan], "missing"),
    ],
)
def test_label_that_does_not_fit_is_invalid_with_a_reason(
    prediction: np.ndarray[Any, Any], classes: tuple[Any, ...] | None, label: Any, reason: str
) -> None:
    j = joiner(Clock())
    add(j, "r", prediction=prediction, classes=classes)
    assert j.add_label("r", label, time=101.0) == []
    assert j.invalid == 1 and j.invalid_reasons[reason] == 1 and j.stats[f"invalid_{reason}"] == 1
    assert j.joined == 0 and j.pending == 0 and j.unknown == 0


def test_invalid_for_one_variant_still_joins_the_others() -> None:
    j = joiner(Clock())
    add(j, "r", "stable", 1, prediction=np.array([1, 0]))
    add(j, "r", "shadow", 2, prediction=np.array([1]))  # a shadow that answered one row only
    got = j.add_label("r", [0, 1], time=101.0)
    assert [g.variant for g in got] == ["stable"] and j.invalid_reasons["rows"] == 1


def test_bad_arguments_are_refused_naming_them() -> None:
    j = joiner(Clock())
    with pytest.raises(InvalidInputError, match="time"):
        j.add_label("r", 1, time="yesterday")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="prediction"):
        add(j, "r", probabilities=[["a", "b"]])
    assert j.stats["pending"] == 0 and j.orphans == 0


def test_label_of_another_model_is_invalid() -> None:
    j = joiner(Clock())
    add(j, "r")
    assert j.add_label("r", 1, time=101.0, model="fraud") == []
    assert j.invalid_reasons["model"] == 1


def test_regression_labels_become_floats() -> None:
    j = joiner(Clock())
    add(j, "r", prediction=np.array([1.5, 2.5]), classes=None)
    (got,) = j.add_label("r", (2, 3.5), time=101.0)
    assert got.label.dtype == np.float64 and got.label.tolist() == [2.0, 3.5]


def test_events_feed_the_joiner_and_failed_calls_are_skipped() -> None:
    j = joiner(Clock())
    ev = InferenceEvent(
        request_id="e1",
        time=5.0,
        model="credit",
        version=2,
        variant="canary",
        features={"age": np.array([30])},
        prediction=np.array([1]),
        latency_s=0.01,
        status=200,
        probabilities=np.array([[0.1, 0.9]]),
        classes=(0, 1),
    )
    failed = InferenceEvent("e2", 5.0, "credit", 2, "stable", {}, None, 0.01, 500, error="boom")
    assert j.add_event(ev) == [] and j.add_event(failed) == []
    assert j.skipped == 1
    (got,) = j.add_event(LabelEvent("e1", 1, time=65.0, model="credit"))
    assert got.variant == "canary" and got.delay_s == 60.0


def test_stats_hold_every_counter_and_counters_are_read_only() -> None:
    j = joiner(Clock())
    expected = {"joined", "late", "unknown", "duplicate", "duplicate_predictions", "missing", "expired", "evicted"}
    expected |= {"invalid", "skipped", "pending", "orphans"} | {f"invalid_{r}" for r in INVALID_REASONS}
    assert set(j.stats) == expected and all(v == 0 for v in j.stats.values())
    with pytest.raises(AttributeError):
        j.joined = 3
    with pytest.raises(AttributeError):
        j.missing = 3  # type: ignore[misc]


def scenario(j: LabelJoiner, c: Clock, ids: range) -> list[Any]:
    """A mixed sequence of events; returns what came out, comparably."""
    out: list[Any] = []
    for i in ids:
        c.t += 7
        if i % 3 == 0:
            add(j, f"r{i}", prediction=np.array([i % 2, 1]), probabilities=np.array([[0.4, 0.6], [0.1, 0.9]]))
        if i % 3 == 1:
            add(j, f"r{i}", "shadow", 2, prediction=np.array(["x"]), classes=None)
        if i % 4 == 0:
            out += [(g.request_id, g.variant, g.label.tolist()) for g in j.add_label(f"r{i - 4}", [1, 0], time=c.t)]
        if i % 5 == 0:
            out += [(g.request_id, g.label.tolist()) for g in j.add_label(f"r{i + 1}", "x", time=c.t)]
        if i % 9 == 0:
            out += [(g.request_id,) for g in j.add_label(f"r{i - 36}", [0, 0], time=c.t)]  # late: expired by then
        if i % 7 == 0:
            got = add(j, f"r{i + 1}", "stable", 3, prediction=np.array(["x"]), classes=("x", "y"))
            out.append(None if got is None else (got.request_id, got.label.tolist()))
    return out


def test_state_round_trip_gives_the_same_behaviour() -> None:
    c = Clock()
    j = joiner(c, max_pending=20, ttl_s=200.0, max_labels=15, label_ttl_s=100.0)
    scenario(j, c, range(60))
    state = json.loads(json.dumps(j.to_state()))
    c2 = Clock(c.t)
    k = LabelJoiner.from_state(state, clock=c2)
    assert k.to_state() == j.to_state()
    assert scenario(j, c, range(60, 140)) == scenario(k, c2, range(60, 140))
    assert j.stats == k.stats and j.delay.to_state() == k.delay.to_state()
    assert j.stats["joined"] > 0 and j.stats["late"] > 0 and j.stats["missing"] > 0


def test_bad_state_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="state"):
        LabelJoiner.from_state({"settings": {}})


operations = st.lists(
    st.one_of(
        st.tuples(st.just("pred"), st.integers(0, 6), st.sampled_from(["stable", "canary", "shadow"])),
        st.tuples(st.just("label"), st.integers(0, 6), st.sampled_from([0, 1, 2, [1], None])),
        st.tuples(st.just("tick"), st.floats(0, 8)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_every_prediction_is_accounted_for(ops: list[tuple[Any, ...]]) -> None:
    """Each prediction ends joined, invalid, missing, ignored as a duplicate or skipped, or is still pending; the
    gauges match what is held; memory stays within its bounds."""
    c = Clock()
    j = joiner(c, max_pending=3, max_labels=3, ttl_s=10.0, label_ttl_s=5.0)
    added = 0
    for op in ops:
        if op[0] == "pred":
            added += 1
            add(j, f"r{op[1]}", op[2], version={"stable": 1, "canary": 2, "shadow": 3}[op[2]])
        elif op[0] == "label":
            j.add_label(f"r{op[1]}", op[2], time=c.t)
        else:
            c.t += op[1]
        s = j.stats
        assert added == s["joined"] + s["invalid"] + s["missing"] + s["pending"] + s["duplicate_predictions"]
        assert s["pending"] <= 3 and s["orphans"] == sum(not r.matched and not r.late for r in j._labels.values())
        assert len(j._labels) <= 3 and len(j._gone) <= 3
        assert s["pending"] == sum(len(v) for v in j._pending.values())


@settings(max_examples=150, deadline=None)
@given(operations, st.lists(st.integers(1, 12), min_size=1, max_size=10), st.sampled_from(["", "lost", "lied"]))
def test_a_journaled_joiner_restored_from_its_rows_is_the_joiner_it_was(
    ops: list[tuple[Any, ...]], cuts: list[int], fail_once: str
) -> None:
    """Snapshots at random points write one segment row of what changed (a write may fail — not happen, or
    commit and still report a failure — and be retried at the next one); a joiner restored from the small state
    plus the rows holds exactly what the original holds, in the same order, and behaves the same afterwards; the
    rows stay within the compaction bound of what is held."""
    from modelpilot.monitoring.performance import journal as jr
    from modelpilot.storage.store import json_dumps

    c = Clock()
    j = joiner(c, max_pending=3, max_labels=3, ttl_s=10.0, label_ttl_s=5.0).journaled()
    table: dict[tuple[str, str], dict[str, Any]] = {}  # (kind, key) -> row: the store
    state: dict[str, Any] = j.to_state(held=False)
    jr_slack = jr.COMPACT_SLACK
    jr.COMPACT_SLACK = 4  # compaction happens within these short runs too

    def snapshot(fail: str) -> None:
        nonlocal state
        assert j.journal is not None
        marks = j.journal.take()
        ch = jr.changes(j, marks)
        if fail == "lost":  # the transaction did not happen: nothing written, the marks are noted again
            j.journal.give_back(marks)
            return
        if ch.clear:
            table.clear()
        for n in ch.deletes:
            table.pop((jr.SEGMENT, f"{n:020d}"), None)  # an unconfirmed segment may not exist
        if ch.segment is not None:
            assert (ch.segment["kind"], ch.segment["key"]) not in table  # the primary key holds
            table[(ch.segment["kind"], ch.segment["key"])] = dict(ch.segment)
        if fail == "lied":  # it committed, yet reported a failure: the marks are noted again
            state = json.loads(json.dumps(j.to_state(held=False)))
            j.journal.give_back(marks)
            return
        j.journal.committed(ch)
        state = json.loads(json.dumps(j.to_state(held=False)))
        held = len(j._pending) + len(j._labels) + len(j._gone)
        written = sum(len(r["data"]["entries"]) for r in table.values())
        assert written <= 2 * held + jr.COMPACT_SLACK + len(marks)  # bounded by what is held

    step = 0
    for n, op in enumerate(ops):
        if op[0] == "pred":
            add(j, f"r{op[1]}", op[2], version={"stable": 1, "canary": 2, "shadow": 3}[op[2]])
        elif op[0] == "label":
            j.add_label(f"r{op[1]}", op[2], time=c.t)
        else:
            c.t += op[1]
        if n == sum(cuts[: step + 1]):
            snapshot(fail_once if step == 0 else "")
            step += 1
    snapshot("")
    jr.COMPACT_SLACK = jr_slack
    rows = json.loads(json_dumps(list(table.values())))  # as the store writes JSON columns
    back = LabelJoiner.from_state(state, clock=c).journaled().load(rows)
    assert back.to_state() == j.to_state()  # what is held, and its order
    assert back.stats == j.stats
    follow: list[tuple[Any, ...]] = [
        ("pred", 2, "stable"), ("label", 2, 1), ("tick", 6.0), ("label", 5, [1]), ("pred", 5, "canary"),
    ]  # fmt: skip
    for op in follow:
        for x in (j, back):
            if op[0] == "pred":
                add(x, f"r{op[1]}", op[2], version=1)
            elif op[0] == "label":
                x.add_label(f"r{op[1]}", op[2], time=c.t)
        if op[0] == "tick":
            c.t += op[1]
    assert back.to_state() == j.to_state()
