"""The loop closed on real components: drift on production traffic raises the monitor's alarm, the remediation
policy calls the retrain hook once (its cooldown holds the next call back), and the retrained version arrives as a
rollout, never straight to production."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pyarrow.csv as pacsv
from starlette.testclient import TestClient

from modelpilot.audit import AuditLog
from modelpilot.config import load_settings
from modelpilot.control.rollouts import RolloutStore
from modelpilot.events import InProcessBus
from modelpilot.loaders import TrustRequest
from modelpilot.registry import Registry
from modelpilot.serving.app import create_app
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit"

HOOK = """\
import json, subprocess, sys
evidence = json.load(sys.stdin)
open({log!r}, "a").write(json.dumps({{"model": evidence["model"], "rule": evidence["rule"]}}) + "\\n")
mp = [sys.executable, "-m", "modelpilot", "--home", {home!r}, "--actor", "retrain-hook"]
subprocess.run([*mp, "register", "credit", "{example}/model.py:CreditModel", "--format", "python", "--trust-code",
                "--reason", "retrained on recent data", "--reference", "{example}/reference.csv", "--target",
                "default"], check=True, capture_output=True)
subprocess.run([*mp, "rollout", "start", "credit", "--version", "2", "--steps", "50,100", "--reason",
                "retrained after drift"], check=True, capture_output=True)
"""


def test_drift_calls_the_retrain_hook_once_and_the_new_version_arrives_as_a_rollout(tmp_path: Path) -> None:
    home = tmp_path / "home"
    log = tmp_path / "retrain.log"
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK.format(log=str(log), home=str(home), example=str(EXAMPLE)), encoding="utf-8")
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "rules:\n  - name: retrain-on-drift\n    model: credit\n    when: {drift: {severity: critical}}\n"
        f"    do: [retrain]\n    retrain: {{command: {json.dumps([sys.executable, str(hook)])}, cooldown: 24h}}\n",
        encoding="utf-8",
    )
    settings = load_settings(home=home, actor="tester", control={"policy": policy}, monitor={"window": {"rows": 1000}})
    registry = Registry.open(settings)
    registry.register(
        "credit", f"{EXAMPLE / 'model.py'}:CreditModel", format="python", reference=EXAMPLE / "reference.csv",
        target="default", trust=TrustRequest(trust_code=True, reason="test"),
    )  # fmt: skip
    registry.promote("credit", 1, reason="first")
    TrafficPlans(registry.store).set(TrafficPlan(model="credit", stable=1), actor="tester", reason="serve")
    rows = pacsv.read_csv(EXAMPLE / "traffic.csv").drop_columns(["request_id"]).to_pylist()
    bus = InProcessBus(100_000)
    with TestClient(create_app(settings, bus=bus, monitor=True)) as client:
        for start in range(0, 8000, 100):  # drift from row 5001: the monitor raises a critical drift alarm
            assert client.post("/v1/models/credit:predict", json={"instances": rows[start : start + 100]}).is_success
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and RolloutStore(registry).latest("credit") is None:
            time.sleep(0.2)
        latest = RolloutStore(registry).latest("credit")
        assert latest is not None, "the hook did not start a rollout"
        # the rollout is on: drifted traffic now reaches v2 as a canary, whose own drift alarm calls the rule again
        table = client.app.state.mp.table  # type: ignore[attr-defined]
        deadline = time.monotonic() + 30  # until this server serves the rollout's plan (the watcher polls the store)
        while time.monotonic() < deadline and table.loaded_marker != table.marker():
            time.sleep(0.1)
        for _ in range(3):  # enough drifted rows for the canary's windows to raise their own alarm (2 of 3)
            for start in range(5000, 8000, 100):
                body = {"instances": rows[start : start + 100]}
                assert client.post("/v1/models/credit:predict", json=body).is_success
        assert bus.flush(10.0)
        time.sleep(1.5)  # the remediation worker takes the new alarms
    calls = log.read_text(encoding="utf-8").splitlines()
    assert len(calls) == 1 and json.loads(calls[0]) == {"model": "credit", "rule": "retrain-on-drift"}
    _, rollout = latest
    assert (rollout.spec.version, rollout.spec.stable) == (2, 1)
    assert registry.aliases("credit")["production"] == 1  # never straight to production
    entries = [json.loads(e.evidence) for e in AuditLog(registry.store).entries(model="credit")
               if e.action == "remediation.retrain"]  # fmt: skip
    assert entries[0]["outcome"]["status"] == "done"
    held = [e for e in entries[1:] if e["outcome"]["status"] == "held"]
    from modelpilot.monitoring.history import MonitorHistory

    alarms = [(a.version, a.variant, a.kind, a.transition) for a in MonitorHistory(registry.store).alarms("credit")]
    assert held and all("cooldown" in e["outcome"]["reason"] for e in held), alarms
    registry.store.close()
