"""The rollout controller on a real app and store: a broken candidate is rolled back within two intervals with the
failing check in the audit evidence; a candidate that behaves like stable is promoted through the gates; a
restarted controller continues a rollout at its step without acting twice."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from modelpilot.audit import AuditLog
from modelpilot.config import load_settings
from modelpilot.control.analysis import Analysis
from modelpilot.control.controller import RolloutController
from modelpilot.control.rollout import RolloutSpec
from modelpilot.control.rollouts import RolloutStore
from modelpilot.errors import ConflictError, GateFailedError, NotFoundError
from modelpilot.events import InProcessBus
from modelpilot.loaders import TrustRequest
from modelpilot.registry import Registry
from modelpilot.serving.app import create_app
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from tests.serving.models import register_models

# Small intervals for a test: 100 requests a side are enough for the error check; latency is judged elsewhere.
ANALYSIS = Analysis.model_validate(
    {"errors": {"min_requests": 100, "tolerance": 0.05}, "latency": {"enabled": False}, "required": ["errors"]}
)


class Harness:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.settings = load_settings(home=tmp / "home", actor="tester")
        self.registry = Registry.open(self.settings)
        register_models(self.registry, tmp / "src")  # v1 Good, v2 Other, v3 Broken (x2 < 0), v4 Slow
        trust = TrustRequest(trust_code=True, reason="test")
        self.registry.register(
            "credit", f"{tmp / 'src' / 'served_models.py'}:Good", format="python", reference=tmp / "src" / "ref.csv",
            target="y", trust=trust,
        )  # fmt: skip
        self.registry.promote("credit", 1, reason="first")
        TrafficPlans(self.registry.store).set(TrafficPlan(model="credit", stable=1), actor="tester", reason="serve")
        self.bus = InProcessBus(100_000)
        self.now = 1_000.0
        self.controller = RolloutController(self.registry, clock=lambda: self.now, seed=1)
        self.bus.subscribe(self.controller)
        self.client = TestClient(create_app(self.settings, bus=self.bus, seed=3))
        self.client.__enter__()
        self.rng = np.random.default_rng(0)

    def reload(self) -> None:
        self.client.app.state.mp.table.reload()  # type: ignore[attr-defined]

    def traffic(self, n: int, *, bad_share: float = 0.0) -> None:
        for _ in range(n):
            x2 = -1.0 if self.rng.random() < bad_share else float(self.rng.random())
            body = {"inputs": [{"name": "x1", "datatype": "FP64", "shape": [1], "data": [0.5]},
                               {"name": "x2", "datatype": "FP64", "shape": [1], "data": [x2]}]}  # fmt: skip
            self.client.post("/v2/models/credit/infer", json=body)
        assert self.bus.flush(10.0)

    def interval(self, n: int = 300, **kw: Any) -> list[Any]:
        self.controller.refresh(self.now)
        self.traffic(n, **kw)
        self.now += 60.0
        decisions = self.controller.tick()
        self.reload()
        return decisions

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.registry.store.close()


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.close()


def start(h: Harness, version: int, steps: tuple[float, ...] = (50, 100)) -> int:
    spec = RolloutSpec(model="credit", version=version, stable=1, steps=steps, interval_s=60, analysis=ANALYSIS)
    rid = h.controller.rollouts.start(spec, now=h.now, actor="tester", reason="test", evidence={})
    h.reload()
    return rid


def test_a_failing_candidate_is_rolled_back_within_two_intervals_with_the_evidence(h: Harness) -> None:
    start(h, 3)  # v3 raises on x2 < 0: a fifth of the requests
    assert TrafficPlans(h.registry.store).get("credit") == TrafficPlan(model="credit", stable=1, canary=3, weight=50)
    outcomes = []
    for _ in range(2):
        decisions = h.interval(bad_share=0.2)
        outcomes += [d.verdict.outcome for d in decisions]
        if decisions and decisions[-1].state.final:
            break
    assert outcomes[-1] == "fail" and len(outcomes) <= 2
    assert TrafficPlans(h.registry.store).get("credit") == TrafficPlan(model="credit", stable=1)  # weight 0 at once
    entries = [e for e in AuditLog(h.registry.store).entries(model="credit") if e.action == "rollout.verdict"]
    last = json.loads(entries[-1].evidence)
    assert last["transition"]["event"] == "rolled_back"
    failed = [c for c in last["verdict"]["checks"] if c["outcome"] == "fail"]
    assert [c["name"] for c in failed] == ["errors"]
    assert failed[0]["statistics"]["canary_rate"] > 0.1 and failed[0]["samples"]["canary_requests"] >= 100
    assert RolloutStore(h.registry).active("credit") == []


def test_a_candidate_like_stable_is_promoted_through_the_gates(h: Harness) -> None:
    rid = start(h, 5)  # v5 is the same model as v1
    decision = h.interval()
    assert decision[0].verdict.outcome == "pass" and decision[0].state.phase == "promoted"
    assert TrafficPlans(h.registry.store).get("credit") == TrafficPlan(model="credit", stable=5)
    assert h.registry.aliases("credit")["production"] == 5
    actions = [e.action for e in AuditLog(h.registry.store).entries(model="credit")]
    assert actions[-3:] == ["promote", "rollout.verdict", "traffic.set"]
    assert RolloutStore(h.registry).latest("credit") == (rid, decision[0].state)


def test_a_restarted_controller_continues_at_its_step_without_acting_twice(h: Harness) -> None:
    start(h, 5, steps=(40, 70, 100))
    decisions = h.interval(400)
    assert decisions[0].state.weight == 70
    revision = TrafficPlans(h.registry.store).revision()
    again = RolloutController(h.registry, clock=lambda: h.now, seed=2)  # the old one crashed
    h.bus.subscribe(again)
    h.controller = again
    assert again.tick() == []  # a fresh interval: no verdict yet, and the plan is already right
    assert TrafficPlans(h.registry.store).revision() == revision
    assert h.interval(400)[0].state.phase == "promoted"


def test_bad_starts_change_nothing(h: Harness) -> None:
    with pytest.raises(NotFoundError, match="9"):
        start(h, 9)
    revision = TrafficPlans(h.registry.store).revision()
    # v6 needs an input (x3) callers of the production version do not send: the gates refuse it
    code = h.tmp / "one.py"
    code.write_text(
        "import numpy as np\n\nclass One:\n    classes = ['no', 'yes']\n\n"
        "    def predict(self, batch):\n        return np.where(np.asarray(batch['x1']) > 0.5, 'yes', 'no')\n",
        encoding="utf-8",
    )
    ref = h.tmp / "one.csv"
    ref.write_text("x1,x2,x3,y\n0.1,1,2,no\n0.9,1,2,yes\n0.4,1,2,no\n0.7,1,2,yes\n", encoding="utf-8")
    h.registry.register("credit", f"{code}:One", format="python", reference=ref, target="y",
                        trust=TrustRequest(trust_code=True, reason="test"))  # fmt: skip
    with pytest.raises(GateFailedError, match="signature_compatible"):
        start(h, 6)
    assert RolloutStore(h.registry).active("credit") == []
    assert TrafficPlans(h.registry.store).revision() == revision
    start(h, 5, steps=(10, 50, 100))
    with pytest.raises(ConflictError, match="already has an active rollout"):
        start(h, 2)
    assert [r.spec.version for _, r in RolloutStore(h.registry).active("credit")] == [5]  # the first is untouched
    assert TrafficPlans(h.registry.store).revision() == revision + 1


def test_up_runs_the_controller_on_its_own(tmp_path: Path) -> None:
    h = Harness(tmp_path)  # its own app is not used here: `up`'s app runs the controller on a thread
    h.close()
    settings = load_settings(home=tmp_path / "home", actor="tester", monitor={"window": {"rows": 10_000}})
    bus = InProcessBus(100_000)
    quick = ANALYSIS.model_copy(update={"errors": ANALYSIS.errors.model_copy(update={"min_requests": 30})})
    registry = Registry.open(settings)
    spec = RolloutSpec(model="credit", version=5, stable=1, steps=(50, 100), interval_s=2, analysis=quick)
    RolloutStore(registry).start(spec, now=time.time(), actor="tester", reason="test", evidence={})
    with TestClient(create_app(settings, bus=bus, monitor=True)) as client:
        body = {"inputs": [{"name": "x1", "datatype": "FP64", "shape": [1], "data": [0.5]},
                           {"name": "x2", "datatype": "FP64", "shape": [1], "data": [0.5]}]}  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for _ in range(50):
                assert client.post("/v2/models/credit/infer", json=body).status_code == 200
            latest = RolloutStore(registry).latest("credit")
            if latest is not None and latest[1].final:
                break
            time.sleep(0.2)
    latest = RolloutStore(registry).latest("credit")
    assert latest is not None and latest[1].phase == "promoted", latest
    assert TrafficPlans(registry.store).get("credit") == TrafficPlan(model="credit", stable=5)
    registry.store.close()


@pytest.mark.postgres
def test_two_controllers_on_one_postgresql_store_exactly_one_acts_and_the_other_takes_over(
    tmp_path: Path, postgres: Any
) -> None:
    from modelpilot.control.lease import Lease

    url = postgres.create_database()
    settings = load_settings(home=tmp_path / "home", store=url, actor="tester")
    registry = Registry.open(settings)
    register_models(registry, tmp_path / "src")
    TrafficPlans(registry.store).set(TrafficPlan(model="credit", stable=1), actor="tester", reason="serve")
    now = [1_000.0]
    a = RolloutController(registry, clock=lambda: now[0], seed=1, lease=Lease(registry.store, holder="a", ttl_s=10,
                          clock=lambda: now[0]))  # fmt: skip
    b = RolloutController(registry, clock=lambda: now[0], seed=2, lease=Lease(registry.store, holder="b", ttl_s=10,
                          clock=lambda: now[0]))  # fmt: skip
    spec = RolloutSpec(model="credit", version=2, stable=1, steps=(40, 70, 100), interval_s=60, analysis=ANALYSIS)
    RolloutStore(registry).start(spec, now=now[0], actor="tester", reason="test", evidence={})

    def interval(*controllers: RolloutController) -> list[list[Any]]:
        for c in controllers:
            c.tick()  # renew (or fail to take) the lease; start an interval
        rng = np.random.default_rng(int(now[0]))
        for c in controllers:  # both see the same events, as both would subscribe to the bus
            stable, canary = int(rng.integers(200, 220)), int(rng.integers(150, 170))
            for i in range(stable):
                c.__call__([_event(f"s{now[0]}-{i}", 1, "stable", rng)])
            for i in range(canary):
                c.__call__([_event(f"c{now[0]}-{i}", 2, "canary", rng)])
        now[0] += 60
        return [c.tick() for c in controllers]

    first = interval(a, b)
    assert [len(d) for d in first] == [1, 0]  # a took the lease first and acts; b does nothing
    assert first[0][0].state.weight == 70
    now[0] += 11  # a dies: it stops renewing; b takes over after the lease time
    second = interval(b)
    assert len(second[0]) == 1 and second[0][0].state.phase == "promoted"
    assert Lease(registry.store).who() is not None and Lease(registry.store).who()[0] == "b"  # type: ignore[index]
    registry.store.close()


def _event(rid: str, version: int, variant: str, rng: np.random.Generator) -> Any:
    from modelpilot.events import InferenceEvent

    return InferenceEvent(
        request_id=rid, time=0.0, model="credit", version=version, variant=variant,  # type: ignore[arg-type]
        features={"x1": np.array([0.5]), "x2": np.array([0.5])}, prediction=np.array(["yes"]),
        latency_s=float(rng.gamma(4, 0.001)), status=200,
    )  # fmt: skip


def test_a_silent_accuracy_drop_seen_by_the_monitor_rolls_the_candidate_back(h: Harness) -> None:
    from modelpilot.monitoring.history import MonitorHistory
    from modelpilot.monitoring.results import WindowResult

    start(h, 5)
    h.controller.refresh(h.now)
    h.traffic(300)

    def window(version: int, variant: str, accuracy: float, index: int) -> WindowResult:
        return WindowResult(
            model="credit", version=version, variant=variant, kind="traffic", window=index, start=h.now + 1,
            end=h.now + 50, rows=1000, events=1000, errors=0, mean_latency_s=0.001, drift=[], quality=[],
            estimated={"accuracy": accuracy},
        )  # fmt: skip

    # the monitor's windows in the interval: same errors and latency, but the candidate's estimated accuracy fell
    MonitorHistory(h.registry.store).record([window(1, "stable", 0.86, 0), window(5, "canary", 0.74, 0)])
    h.now += 60.0
    [decision] = h.controller.tick()
    assert decision.verdict.failed == ["performance"] and decision.state.phase == "rolled_back"
    perf = decision.verdict.check("performance")
    assert perf.statistics["difference"] == pytest.approx(-0.12) and perf.samples == {
        "stable_rows": 1000,
        "canary_rows": 1000,
    }
