"""What keeps the controller from undoing people and policies: a hand-made or policy rollback ends the rollout
(the controller does not put its plan back), a change decided on a stale state is refused, a refused promotion
after an approval rolls back cleanly, and approvals settle once."""

from __future__ import annotations

import time

import pytest

from modelpilot.cli.app import main
from modelpilot.control.analysis import parse_analysis
from modelpilot.control.policy import parse_policy
from modelpilot.control.remediator_service import RemediationController
from modelpilot.control.rollout import abort, approve
from modelpilot.control.rollouts import RolloutStore
from modelpilot.errors import ConfigError, GateFailedError
from modelpilot.events import SloAlertEvent
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from tests.control.test_controller import Harness, h, start  # noqa: F401 (the fixture)


def test_a_policy_rollback_ends_the_rollout_and_the_controller_leaves_it(h: Harness) -> None:  # noqa: F811
    start(h, 5)
    policy = parse_policy("rules:\n  - {name: page, when: {slo_burn: {severity: page}}, do: [rollback]}\n")
    alert = {"slo": "credit-availability", "model": "credit", "severity": "page", "state": "firing", "since": 1.0}
    [(_, outcome)] = RemediationController(h.registry, policy).handle([SloAlertEvent(alert, 1.0)])
    assert outcome["status"] == "done" and outcome["rollout_aborted"] == 5
    assert TrafficPlans(h.registry.store).get("credit") == TrafficPlan(model="credit", stable=1)
    assert h.interval() == []  # nothing to judge: the rollout is over
    assert TrafficPlans(h.registry.store).get("credit") == TrafficPlan(model="credit", stable=1)  # not put back


def test_a_hand_made_rollback_ends_the_rollout(h: Harness, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    start(h, 5)
    assert main(["--home", str(h.settings.home), "rollback", "credit", "--reason", "looks wrong"]) == 0
    assert RolloutStore(h.registry).active("credit") == []
    h.controller.tick()
    assert TrafficPlans(h.registry.store).get("credit") == TrafficPlan(model="credit", stable=1)


def test_a_verdict_on_a_state_that_changed_meanwhile_is_dropped(h: Harness) -> None:  # noqa: F811
    rid = start(h, 5)
    h.controller.refresh(h.now)
    h.traffic(300)
    rollouts = RolloutStore(h.registry)
    [(_, r)] = rollouts.active("credit")
    ended, transition = abort(r, now=h.now, reason="operator")
    rollouts.record(rid, ended, transition, actor="op", action="rollout.abort", evidence={}, expected=r)
    h.now += 60
    assert h.controller.tick() == []  # its state said canary; the store says aborted: the abort stands
    assert RolloutStore(h.registry).latest("credit")[1].phase == "aborted"  # type: ignore[index]
    assert h.registry.aliases("credit")["production"] == 1


def test_an_approved_promotion_the_gates_refuse_rolls_back(h: Harness) -> None:  # noqa: F811
    from modelpilot.control.rollout import RolloutSpec, advance

    spec = RolloutSpec(model="credit", version=5, stable=1, steps=(50, 100), approve_at=100)
    rid = h.controller.rollouts.start(spec, now=h.now, actor="t", reason="r", evidence={})
    rollouts = RolloutStore(h.registry)
    [(_, r)] = rollouts.active("credit")
    waiting, _ = advance(r, "pass", now=h.now)
    rollouts.record(rid, waiting, None, actor="t", action="rollout.verdict", evidence={})
    new, transition = approve(waiting, now=h.now)
    # the gates refuse at the end (simulated: promote raises as it does on a refusal); a rollback, not a crash

    def refuse(*args: object, **kwargs: object) -> None:
        raise GateFailedError("promotion refused", hint="test")

    h.registry.promote = refuse  # type: ignore[method-assign,assignment]
    settled, t = rollouts.finish(waiting, new, transition, now=h.now, actor="t")
    assert settled.phase == "rolled_back" and t is not None and "gates refused" in t.reason


def test_an_approval_after_the_timeout_settled_it_is_refused(h: Harness, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    policy = parse_policy(
        "rules:\n  - name: page\n    when: {slo_burn: {severity: page}}\n    do: [require_approval, rollback]\n"
        "    approval: {timeout: 1m, on_timeout: cancel}\n"
    )
    clock = [time.time()]
    ctl = RemediationController(h.registry, policy, clock=lambda: clock[0])
    alert = {"slo": "credit-availability", "model": "credit", "severity": "page", "state": "firing", "since": 1.0}
    ident = ctl.handle([SloAlertEvent(alert, 1.0)])[1][1]["decision"]
    clock[0] += 61
    assert [o["status"] for _, o in ctl.sweep()] == ["cancelled"]
    assert main(["--home", str(h.settings.home), "approve", str(ident)]) != 0
    assert "is cancelled, not waiting" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "max_actions_per_hour: 1\nrules:\n  - {name: a, when: {drift: {}}, do: [rollback, freeze]}\n",
            "could never act",
        ),
        ("rules:\n  - {name: a, when: {drift: {}}, do: [notify], notify: {url: nowhere}}\n", "not an http(s) URL"),
        ("rules:\n  - {name: a, when: {drift: {}}, do: [retrain], retrain: {command: []}}\n", "retrain.command"),
        (
            "rules:\n  - {name: a, when: {drift: {}}, do: [rollback], approval: {timeout: 1h}}\n",
            "needs require_approval",
        ),
    ],
)
def test_policies_that_could_not_work_are_refused(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        parse_policy(text)


def test_an_analysis_requiring_a_disabled_check_is_refused() -> None:
    with pytest.raises(ConfigError, match="disabled"):
        parse_analysis("latency: {enabled: false}\n")
