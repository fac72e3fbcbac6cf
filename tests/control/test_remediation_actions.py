"""Remediation carried out on a real store: rollback, fallback, freeze, notify (a loopback webhook), retrain (a
command), dry run; each decision and outcome an audit entry; and the controller inside `modelpilot up`."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from modelpilot.audit import AuditLog
from modelpilot.cli.app import main
from modelpilot.config import load_settings
from modelpilot.control.policy import parse_policy
from modelpilot.control.remediator_service import RemediationController
from modelpilot.control.rollout import RolloutSpec
from modelpilot.control.rollouts import RolloutStore
from modelpilot.errors import ConflictError
from modelpilot.events import AlarmEvent, InProcessBus, SloAlertEvent
from modelpilot.registry import Registry
from modelpilot.serving.app import create_app
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from tests.serving.models import register_models


class Hook:
    """A loopback webhook that records what it is sent."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hook.bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry.open(load_settings(home=tmp_path / "home", actor="tester"))
    register_models(reg, tmp_path / "src")
    reg.promote("credit", 1, reason="first")
    TrafficPlans(reg.store).set(TrafficPlan(model="credit", stable=1, canary=2, weight=10), actor="t", reason="c")
    yield reg
    reg.store.close()


def page(n: int, severity: str = "page") -> SloAlertEvent:
    alert = {"slo": "credit-availability", "model": "credit", "severity": severity, "state": "firing",
             "since": float(n), "source": "modelpilot"}  # fmt: skip
    return SloAlertEvent(alert, float(n))


def drift(window: int) -> AlarmEvent:
    alarm = {"model": "credit", "version": 1, "variant": "stable", "kind": "drift", "transition": "raised",
             "severity": "critical", "subjects": {"x1": "critical"}, "window": window, "time": 0.0}  # fmt: skip
    return AlarmEvent(alarm, 0.0)


def remediation_entries(registry: Registry) -> list[tuple[str, dict[str, Any]]]:
    return [
        (e.action, json.loads(e.evidence))
        for e in AuditLog(registry.store).entries(model="credit")
        if e.action.startswith("remediation.")
    ]


def test_a_page_rolls_back_the_canary_and_notifies(registry: Registry, hook: Hook) -> None:
    policy = parse_policy(
        f"rules:\n  - name: page\n    when: {{slo_burn: {{severity: page}}}}\n    do: [rollback, notify]\n"
        f"    notify: {{url: '{hook.url}'}}\n"
    )
    ctl = RemediationController(registry, policy)
    outcomes = [o["status"] for _, o in ctl.handle([page(1)])]
    assert outcomes == ["done", "done"]
    assert TrafficPlans(registry.store).get("credit") == TrafficPlan(model="credit", stable=1)
    assert "credit: slo_burn page; rule page calls for rollback, notify" in hook.bodies[0]["text"]
    entries = remediation_entries(registry)
    assert [a for a, _ in entries] == ["remediation.rollback", "remediation.notify"]
    assert entries[0][1]["signal"]["slo"] == "credit-availability" and entries[0][1]["rule"] == "page"
    assert entries[0][1]["outcome"]["status"] == "done"


def test_lasting_drift_falls_back_and_a_ticket_freezes_rollouts(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = parse_policy(
        "rules:\n"
        "  - {name: drifted, when: {drift: {severity: critical, windows: 2}}, do: [fallback]}\n"
        "  - {name: burning, when: {slo_burn: {severity: ticket}}, do: [freeze]}\n"
    )
    ctl = RemediationController(registry, policy)
    assert ctl.handle([drift(5)]) == []
    assert ctl.handle([drift(6)])[0][1] == {
        "status": "skipped",
        "reason": "model 'credit' has no fallback alias",
        "decision": 1,
    }
    registry.set_alias("credit", "fallback", 4, reason="known good")
    ctl = RemediationController(registry, policy)  # a fresh memory of the alarm
    assert ctl.handle([drift(10)]) == []  # active for one window: the rule wants two
    [(decision, outcome)] = ctl.handle([drift(11)])
    assert (decision.action, outcome["status"], outcome["stable"]) == ("fallback", "done", 4)
    assert TrafficPlans(registry.store).get("credit") == TrafficPlan(model="credit", stable=4)
    ctl.handle([page(2, "ticket")])
    spec = RolloutSpec(model="credit", version=3, stable=4, steps=(50, 100))
    with pytest.raises(ConflictError, match="frozen"):
        RolloutStore(registry).start(spec, now=time.time(), actor="t", reason="try", evidence={})
    home = ["--home", str(tmp_path / "home")]
    capsys.readouterr()
    assert main([*home, "rollout", "approve", "credit"]) != 0  # an approval would move a held rollout on
    assert "frozen" in capsys.readouterr().err
    assert main([*home, "rollout", "unfreeze", "credit", "--reason", "budget recovered"]) == 0
    RolloutStore(registry).start(spec, now=time.time(), actor="t", reason="try", evidence={})


def test_retrain_runs_the_command_once_within_its_cooldown_and_dry_run_acts_on_nothing(
    registry: Registry, tmp_path: Path
) -> None:
    out = tmp_path / "retrain.json"
    command = [sys.executable, "-c", f"import sys; open({str(out)!r}, 'a').write(sys.stdin.read() + '\\n')"]
    policy = parse_policy(
        "rules:\n  - name: retrain\n    when: {slo_burn: {severity: page}}\n    do: [retrain]\n"
        f"    retrain: {{command: {json.dumps(command)}}}\n    cooldown: 24h\n"
    )
    ctl = RemediationController(registry, policy)
    assert [o["status"] for _, o in ctl.handle([page(1)])] == ["done"]
    assert [o["status"] for _, o in ctl.handle([page(2)])] == ["held"]
    calls = out.read_text().splitlines()
    assert len(calls) == 1 and json.loads(calls[0])["model"] == "credit"
    dry = RemediationController(registry, policy.model_copy(update={"dry_run": True}))
    before = TrafficPlans(registry.store).revision()
    assert [o["status"] for _, o in dry.handle([page(3)])] == ["dry_run"]
    assert TrafficPlans(registry.store).revision() == before and len(out.read_text().splitlines()) == 1


def test_up_runs_the_policy_on_the_bus(registry: Registry, tmp_path: Path, hook: Hook) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"rules:\n  - name: page\n    when: {{slo_burn: {{severity: page}}}}\n    do: [rollback, notify]\n"
        f"    notify: {{url: '{hook.url}'}}\n",
        encoding="utf-8",
    )
    settings = load_settings(home=tmp_path / "home", actor="tester", control={"policy": policy})
    bus = InProcessBus(1000)
    with TestClient(create_app(settings, bus=bus, monitor=True)):
        bus.publish(page(1))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not hook.bodies:
            time.sleep(0.05)
    assert hook.bodies and TrafficPlans(registry.store).get("credit") == TrafficPlan(model="credit", stable=1)


def test_incidents_tell_each_episode_with_its_durations(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import orjson

    registry.set_alias("credit", "fallback", 4, reason="known good")
    policy = parse_policy(
        "rules:\n  - {name: drifted, when: {drift: {severity: critical, windows: 2}}, do: [fallback]}\n"
    )
    clock = [1_000.0]
    ctl = RemediationController(registry, policy, clock=lambda: clock[0])

    def alarm(window: int, transition: str, at: float) -> AlarmEvent:
        severity = None if transition == "resolved" else "critical"
        body = {"model": "credit", "version": 1, "variant": "stable", "kind": "drift", "transition": transition,
                "severity": severity, "subjects": {}, "window": window, "time": at}  # fmt: skip
        return AlarmEvent(body, at)

    ctl.handle([alarm(5, "raised", 1_000.0)])
    clock[0] = 1_060.0
    ctl.handle([alarm(6, "changed", 1_060.0)])  # two windows: fall back
    clock[0] = 1_600.0
    ctl.handle([alarm(15, "resolved", 1_600.0)])
    assert main(["--home", str(tmp_path / "home"), "incidents", "credit", "-o", "json"]) == 0
    [incident] = orjson.loads(capsys.readouterr().out)
    assert (incident["signals"], incident["actions"], incident["open"]) == (["drift"], ["fallback: done"], False)
    assert incident["began"] == 1_000.0
    # raised at 1000 s, acted on at its second window (1060 s), cleared at 1600 s
    assert (incident["time_to_detect_s"], incident["time_to_mitigate_s"], incident["time_to_recover_s"]) == (
        60.0,
        60.0,
        600.0,
    )
    assert main(["--home", str(tmp_path / "home"), "incidents"]) == 0
    assert "recovered" in capsys.readouterr().out


APPROVAL = """\
rules:
  - name: page
    when: {slo_burn: {severity: page}}
    do: [require_approval, rollback]
    approval: {timeout: 10m, on_timeout: %s}
"""


def test_actions_behind_require_approval_wait_for_modelpilot_approve(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = [time.time()]  # `modelpilot approve` checks the timeout against the wall clock
    ctl = RemediationController(registry, parse_policy(APPROVAL % "cancel"), clock=lambda: clock[0])
    outcomes = [o for _, o in ctl.handle([page(1)])]
    assert [o["status"] for o in outcomes] == ["done", "awaiting_approval"]  # the gate, then the waiting rollback
    ident = outcomes[1]["decision"]
    assert ctl.sweep() == []  # nobody approved yet: nothing happens
    assert TrafficPlans(registry.store).get("credit") == TrafficPlan(model="credit", stable=1, canary=2, weight=10)
    home = ["--home", str(tmp_path / "home")]
    assert main([*home, "approve", "999"]) != 0
    assert "no decision 999" in capsys.readouterr().err
    assert main([*home, "decisions", "--waiting", "-o", "json"]) == 0
    assert [d["id"] for d in json.loads(capsys.readouterr().out)] == [ident]
    assert main([*home, "approve", str(ident), "--reason", "on-call agrees"]) == 0
    [(decision, outcome)] = ctl.sweep()
    assert (decision.action, outcome["status"]) == ("rollback", "done")
    assert TrafficPlans(registry.store).get("credit") == TrafficPlan(model="credit", stable=1)
    assert main([*home, "approve", str(ident)]) != 0  # done: nothing left to approve
    assert "is done, not waiting" in capsys.readouterr().err


@pytest.mark.parametrize(("on_timeout", "status"), [("cancel", "cancelled"), ("proceed", "done")])
def test_an_approval_timeout_cancels_or_proceeds(registry: Registry, on_timeout: str, status: str) -> None:
    clock = [1_000.0]
    ctl = RemediationController(registry, parse_policy(APPROVAL % on_timeout), clock=lambda: clock[0])
    ctl.handle([page(1)])
    clock[0] += 601.0
    [(_, outcome)] = ctl.sweep()
    assert outcome["status"] == status
    rolled = TrafficPlans(registry.store).get("credit") == TrafficPlan(model="credit", stable=1)
    assert rolled == (status == "done")


def test_a_restart_finishes_what_a_dead_controller_decided_without_acting_twice(registry: Registry) -> None:
    from modelpilot.control.decisions import DecisionStore

    policy = parse_policy("rules:\n  - {name: page, when: {slo_burn: {severity: page}}, do: [rollback]}\n")
    first = RemediationController(registry, policy)
    [(_, outcome)] = first.handle([page(1)])
    assert outcome["status"] == "done"
    store = DecisionStore(registry.store)
    # the process died after the rollback but before recording it: the row still says `acting`
    store.set(outcome["decision"], "acting")
    TrafficPlans(registry.store).set(TrafficPlan(model="credit", stable=1, canary=2, weight=10), actor="t", reason="x")
    revision = TrafficPlans(registry.store).revision()
    # ... and it had also decided a second rollback it never started
    pending = store.add(model="credit", rule="page", action="rollback", signal_id="s2",
                        evidence={"signal": {"id": "s2", "kind": "slo_burn", "severity": "page"}}, now=0.0)  # fmt: skip
    second = RemediationController(registry, policy)
    results = {o["decision"]: o for _, o in second.sweep()}
    assert results[outcome["decision"]]["status"] == "done"  # it had taken place: recorded, not repeated
    assert results[pending]["status"] == "done"  # the pending one is carried out now, once
    assert TrafficPlans(registry.store).revision() == revision + 1
    assert second.sweep() == []


def test_a_new_controller_keeps_the_cooldown_and_budget_of_the_one_before(registry: Registry) -> None:
    """The remediator's memory is in the store: a restarted controller (or a new leader) does not act again within
    a rule's cooldown, counts the hour's actions, and ignores a signal that was already decided."""
    policy = parse_policy(
        "max_actions_per_hour: 5\nrules:\n  - {name: page, when: {slo_burn: {severity: page}}, do: [rollback],"
        " cooldown: 30m}\n"
    )
    first = RemediationController(registry, policy)
    [(_, outcome)] = first.handle([page(1)])
    assert outcome["status"] == "done"
    second = RemediationController(registry, policy)
    assert second.recall() == 1
    assert second.handle([page(1)]) == []  # the same signal, redelivered: already decided
    [(_, later)] = second.handle([page(2)])  # a new page within the cooldown
    assert later["status"] == "held" and "cooldown" in later["reason"]
    fresh = RemediationController(registry, policy)  # without recall it would act again: the test can fail
    [(_, again)] = fresh.handle([page(3)])
    assert again["status"] != "held"
