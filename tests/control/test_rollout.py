"""The rollout state machine: steps, promotion, rollback at once, pauses, approvals, and the traffic plan of
every state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from modelpilot.control.rollout import (
    FINAL,
    RolloutSpec,
    abort,
    advance,
    approve,
    pause,
    plan_for,
    resume,
    start,
)
from modelpilot.serving.plan import Shadow, TrafficPlan

SPEC = RolloutSpec(model="credit", version=3, stable=2, steps=(5, 25, 50, 100), interval_s=60)


def test_every_pass_moves_one_step_and_passing_the_step_before_100_promotes() -> None:
    r = start(SPEC, now=0.0)
    weights = [r.weight]
    for i in range(3):
        r, t = advance(r, "pass", now=60.0 * (i + 1))
        assert t is not None
        weights.append(r.weight)
    assert weights == [5, 25, 50, 100] and r.phase == "promoted"
    assert plan_for(r) == TrafficPlan(model="credit", stable=3)


@pytest.mark.parametrize("at_step", [0, 1, 2])
def test_a_fail_rolls_back_at_once_from_any_step(at_step: int) -> None:
    r = start(SPEC, now=0.0)
    for _ in range(at_step):
        r, _ = advance(r, "pass", now=1.0)
    r, t = advance(r, "fail", now=2.0, reason="latency failed")
    assert r.phase == "rolled_back" and t is not None and t.event == "rolled_back" and t.reason == "latency failed"
    assert plan_for(r) == TrafficPlan(model="credit", stable=2)  # the canary's weight is 0
    assert advance(r, "pass", now=3.0) == (r, None)  # final: nothing moves it


def test_a_frozen_rollout_holds_its_step_but_still_rolls_back_a_failing_candidate() -> None:
    r = start(SPEC.model_copy(update={"max_inconclusive": 2}), now=0.0)
    r, _ = advance(r, "pass", now=60.0)
    for i, verdict in enumerate(["pass", "inconclusive", "inconclusive", "pass"]):
        held, t = advance(r, verdict, now=120.0 + i, held=True)
        assert (held, t) == (r, None)  # no step forward, no pause for inconclusive verdicts either
    shadowing = start(SPEC.model_copy(update={"shadow_s": 60}), now=0.0)
    assert advance(shadowing, "pass", now=600.0, held=True) == (shadowing, None)  # shadow does not become canary
    failed, t = advance(r, "fail", now=300.0, held=True)
    assert failed.phase == "rolled_back" and t is not None


def test_inconclusive_verdicts_hold_the_step_then_pause_for_a_person() -> None:
    spec = SPEC.model_copy(update={"max_inconclusive": 3})
    r = start(spec, now=0.0)
    r, _ = advance(r, "pass", now=60.0)
    for i in range(2):
        r, t = advance(r, "inconclusive", now=120.0 + i)
        assert t is None and r.phase == "canary" and r.weight == 25
    r, t = advance(r, "inconclusive", now=200.0)
    assert r.phase == "paused" and t is not None and "3 inconclusive" in t.reason
    assert plan_for(r).weight == 25  # paused: the weight stays where it was
    assert advance(r, "pass", now=201.0) == (r, None)  # a paused rollout does not move on by itself...
    failed, t = advance(r, "fail", now=201.0)  # ...but a candidate still taking traffic is rolled back on a fail
    assert failed.phase == "rolled_back" and t is not None
    r, t = resume(r, now=300.0, reason="looked fine")
    assert r.phase == "canary" and r.inconclusive == 0 and r.weight == 25
    r, t = abort(r, now=400.0, reason="changed my mind")
    assert r.phase == "aborted" and plan_for(r).canary is None
    with pytest.raises(ValueError, match="already aborted"):
        abort(r, now=401.0, reason="again")


def test_shadow_first_then_canary() -> None:
    spec = SPEC.model_copy(update={"shadow_s": 600})
    r = start(spec, now=0.0)
    assert r.phase == "shadow" and plan_for(r).shadows == (Shadow(3, 1.0),) and plan_for(r).canary is None
    r, t = advance(r, "pass", now=300.0)
    assert t is None and r.phase == "shadow"  # not long enough yet
    r, t = advance(r, "inconclusive", now=600.0)
    assert r.phase == "canary" and r.weight == 5 and t is not None and t.event == "canary"
    shadow_fail, _ = advance(start(spec, now=0.0), "fail", now=10.0)
    assert shadow_fail.phase == "rolled_back"


def test_steps_from_approve_at_wait_for_a_person() -> None:
    spec = SPEC.model_copy(update={"approve_at": 50.0})
    r = start(spec, now=0.0)
    r, _ = advance(r, "pass", now=60.0)
    r, t = advance(r, "pass", now=120.0)
    assert r.phase == "awaiting_approval" and t is not None and t.event == "awaiting_approval"
    assert plan_for(r).weight == 25  # holds the last step that ran
    assert advance(r, "pass", now=130.0) == (r, None)
    assert advance(r, "fail", now=131.0)[0].phase == "rolled_back"  # it holds 25%: still judged
    r, t = approve(r, now=140.0)
    assert r.phase == "canary" and r.weight == 50
    r, _ = advance(r, "pass", now=200.0)
    assert r.phase == "awaiting_approval" and r.step == 3  # 100 is beyond approve_at: the promotion waits too
    r, t = approve(r, now=210.0)
    assert r.phase == "promoted" and t.event == "approved"
    with pytest.raises(ValueError, match="not waiting"):
        approve(start(SPEC, now=0.0), now=1.0)


def test_plans_keep_sticky_routing_and_other_shadows() -> None:
    base = TrafficPlan(model="credit", stable=2, shadows=(Shadow(1, 0.1),), sticky_header="x-user")
    r = start(SPEC, now=0.0)
    plan = plan_for(r, base)
    assert plan.sticky_header == "x-user" and plan.shadows == (Shadow(1, 0.1),) and plan.canary == 3
    r, _ = pause(r, now=1.0, reason="hold")
    assert plan_for(r, base).weight == 5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"steps": (5, 50, 25, 100)}, "rise strictly"),
        ({"steps": (5, 50)}, "last step must be 100"),
        ({"steps": (0, 100)}, "(0, 100]"),
        ({"steps": ()}, "at least one step"),
        ({"steps": (100,)}, "a canary step below 100"),
        ({"approve_at": 30}, "not one of the steps"),
        ({"version": 2}, "already the stable version"),
    ],
)
def test_impossible_specs_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace("]", r"\]")):
        RolloutSpec.model_validate({**SPEC.model_dump(), **changes})


@given(st.lists(st.sampled_from(["pass", "fail", "inconclusive"]), max_size=30))
def test_any_verdict_sequence_keeps_the_plan_valid_and_the_weight_monotone(verdicts: list[str]) -> None:
    r = start(SPEC.model_copy(update={"max_inconclusive": 4}), now=0.0)
    last = r.weight
    for i, v in enumerate(verdicts):
        r, _ = advance(r, v, now=float(i))
        plan_for(r)  # never an invalid plan
        if r.phase == "rolled_back":
            assert plan_for(r).canary is None
            break
        assert r.weight >= last or r.phase == "promoted"
        last = r.weight
        if r.phase in FINAL:
            assert advance(r, "fail", now=1e9) == (r, None)
