"""Gathering a page's data from a real store: every section filled from what the monitor, the SLO evaluator, the
rollout store and the audit log wrote, as plain JSON, with every read bounded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow.csv as pacsv
import pytest

from modelpilot.config import MonitorSettings, load_settings
from modelpilot.control.rollout import RolloutSpec, advance
from modelpilot.control.rollouts import RolloutStore
from modelpilot.errors import NotFoundError
from modelpilot.events import InferenceEvent, LabelEvent
from modelpilot.loaders import TrustRequest
from modelpilot.monitoring.service import MonitorService
from modelpilot.registry import Registry
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from modelpilot.slo.service import SloService
from modelpilot.slo.spec import SloSpec
from modelpilot.ui import pages, sections
from modelpilot.ui.data import LIMITS, Sources, model_detail, overview
from modelpilot.ui.rates import RequestRates

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit"
NAMES = ["income", "debt_ratio", "age", "late_payments", "employment", "region"]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry.open(load_settings(home=tmp_path / "home", actor="tester"))
    for _ in range(2):
        reg.register(
            "credit", f"{EXAMPLE / 'model.py'}:CreditModel", format="python", reference=EXAMPLE / "reference.csv",
            target="default", trust=TrustRequest(trust_code=True, reason="test"),
        )  # fmt: skip
    reg.promote("credit", 1, reason="first")
    TrafficPlans(reg.store).set(TrafficPlan(model="credit", stable=1), actor="tester", reason="serve")
    yield reg
    reg.store.close()


def _monitor(reg: Registry) -> None:
    """The example's traffic (rows 0-1000, then the drifted 5000-6000) and its labels, through the monitor."""
    data = pacsv.read_csv(EXAMPLE / "traffic.csv")
    labels = pacsv.read_csv(EXAMPLE / "labels.csv").column("default").to_numpy()
    model = reg.load("credit", 1)
    events: list[Any] = []
    for i, start in enumerate([*range(0, 1000, 100), *range(5000, 6000, 100)]):
        chunk = data.slice(start, 100)
        feats = {n: chunk.column(n).to_numpy(zero_copy_only=False) for n in NAMES}
        rid = f"req-{i}"
        events.append(
            InferenceEvent(request_id=rid, time=1e6 + i, model="credit", version=1, variant="stable", features=feats,
                           prediction=model.predict(feats), probabilities=model.predict_proba(feats), classes=(0, 1),
                           latency_s=0.002, status=200)
        )  # fmt: skip
        events.append(LabelEvent(request_id=rid, label=labels[start : start + 100].tolist(), time=1e6 + i + 0.5))
    MonitorService(reg, MonitorSettings(window={"rows": 200})).handle(events)


def _slo(reg: Registry) -> None:
    spec = SloSpec(name="availability", model="credit", sli={"kind": "availability"}, objective=99.0)
    labels = {"model": "credit", "variant": "stable"}
    counts = {"200": 0.0, "500": 0.0}
    svc = SloService([spec], reg.store, sample=lambda: [
        ("modelpilot_requests_total", {**labels, "code": c}, n) for c, n in counts.items()
    ])  # fmt: skip
    svc.tick(now=1000.0)
    counts.update({"200": 900.0, "500": 100.0})
    svc.tick(now=1010.0)


def _rollout(reg: Registry) -> int:
    rollouts = RolloutStore(reg)
    spec = RolloutSpec(model="credit", version=2, stable=1, steps=(50, 100), interval_s=60)
    now = time.time()
    rid = rollouts.start(spec, now=now, actor="tester", reason="v2", evidence={})
    ((_, r),) = rollouts.active("credit")
    new, transition = advance(r, "fail", now=now + 60, reason="verdict fail: errors")
    verdict = {"outcome": "fail", "analysis": "default", "time": now + 60,
               "checks": [{"name": "errors", "outcome": "fail", "reason": "worse", "statistics": {"canary_rate": 0.2},
                           "thresholds": {}, "samples": {"canary_requests": 300}}]}  # fmt: skip
    rollouts.record(rid, new, transition, actor="controller", action="rollout.verdict", expected=r,
                    evidence={"verdict": verdict, "interval": {"start": now, "end": now + 60, "seconds": 60},
                              "weight": 50.0})  # fmt: skip
    rollouts.reconcile(new, actor="controller")
    return rid


def _rates() -> RequestRates:
    labels = {"model": "credit", "version": "1", "variant": "stable", "protocol": "v1", "code": "200"}
    counts = [0.0]
    rates = RequestRates(source=lambda: [("modelpilot_requests_total", labels, counts[0])])
    for i in range(4):
        counts[0] += 20.0
        rates.observe(now=2.0 * i)
    return rates


def test_a_model_page_gathers_every_section_from_the_stores(registry: Registry) -> None:
    _monitor(registry)
    _slo(registry)
    rid = _rollout(registry)
    d = model_detail(Sources.open(registry), "credit", _rates(), now=time.time())
    orjson.dumps(d)  # plain JSON all the way down

    assert [v["version"] for v in d["versions"]] == [2, 1] and d["versions"][1]["aliases"] == ["production"]
    assert d["plan"]["stable"] == 1 and d["plan"]["canary"] is None  # the failed canary took its weight back
    assert [c["kind"] for c in d["plan_changes"]][:1] == ["set"] and len(d["plan_changes"]) == 3
    assert d["traffic"]["rows"][0]["series"] == "v1 stable" and d["traffic"]["rows"][0]["rate"] == 10.0

    drift = d["drift"]
    assert drift["rows"][: len(NAMES)] == NAMES and len(drift["columns"]) == 10
    assert any(s == "critical" for row in drift["severity"] for s in row)  # the drift from row 5001
    assert [a["kind"] for a in d["alarms"]["active"]].count("drift") == 1 and d["health"] == "critical"
    perf = d["performance"]
    assert perf["metric"] == "accuracy" and {s["kind"] for s in perf["series"]} == {"estimated", "realized"}
    assert perf["latest"][0]["labeled"] == 2000

    (slo,) = d["slos"]
    assert slo["slo"] == "credit-availability" and slo["burn_rates"]["5m"] == pytest.approx(10.0)

    (rollout,) = d["rollouts"]
    assert rollout["id"] == rid and rollout["phase"] == "rolled_back"
    assert rollout["verdicts"][0]["checks"][0]["statistics"] == {"canary_rate": 0.2}
    assert d["audit"][0]["action"] == "traffic.set" and d["audit"][1]["action"] == "rollout.verdict"
    assert d["audit"][1]["evidence"]["verdict"]["outcome"] == "fail"

    html = sections.render(d)
    assert all(html.values())
    assert 'class="cell critical' in html["drift"] and 'data-lanes="1"' in html["rollouts"]
    assert "rollout.verdict" in html["audit"] and "canary_rate" in html["rollouts"]
    assert "<!doctype html>" in pages.model_page(d, models=["credit"])


def test_the_overview_lists_models_with_their_plan_health_and_recent_events(registry: Registry) -> None:
    _monitor(registry)
    _slo(registry)
    o = overview(Sources.open(registry), _rates(), now=time.time())
    orjson.dumps(o)
    (m,) = o["models"]
    assert (m["name"], m["versions"], m["plan"]["stable"], m["aliases"]) == ("credit", 2, 1, {"production": 1})
    assert m["health"] == "critical" and m["rollout"] is None and m["requests"] == 80
    assert [r for _, r in m["rate"]] == [10.0, 10.0, 10.0]
    assert m["slos"][0]["firing"]  # 10% errors against a 1% budget
    assert o["alarms"][0]["model"] == "credit" and [c["action"] for c in o["changes"]][:2] == ["traffic.set", "promote"]
    assert "evidence" not in o["changes"][0]


def test_reads_are_bounded(registry: Registry) -> None:
    plans = TrafficPlans(registry.store)
    for i in range(LIMITS["audit"] + 5):
        plans.set(TrafficPlan(model="credit", stable=1 + i % 2), actor="tester", reason=f"flip {i}")
    d = model_detail(Sources.open(registry), "credit", RequestRates(source=list), now=time.time())
    assert len(d["audit"]) == LIMITS["audit"] and d["audit"][0]["reason"] == f"flip {LIMITS['audit'] + 4}"
    assert len(d["plan_changes"]) == LIMITS["plan_changes"]


def test_an_unknown_model_is_not_found(registry: Registry) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        model_detail(Sources.open(registry), "nope", RequestRates(source=list), now=0.0)
