"""The evaluator inside `modelpilot up`'s app: real requests, real counters, alerts on the bus, statuses in the
store for `modelpilot slo status`, ledgers kept across a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from modelpilot.cli.app import main
from modelpilot.config import load_settings
from modelpilot.errors import ConfigError
from modelpilot.events import Event, InProcessBus, SloAlertEvent
from modelpilot.registry import Registry
from modelpilot.serving.app import create_app
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from modelpilot.slo.service import SloService, load_statuses
from modelpilot.telemetry.metrics import exposition
from tests.serving.models import register_models

SPEC = """\
slos:
  - name: availability
    model: credit
    sli: {kind: availability}
    objective: 99
  - name: fast
    model: credit
    sli: {kind: latency, threshold_s: 5.0}
    objective: 99.5
"""


@pytest.fixture
def home(tmp_path: Path) -> Iterator[tuple[Path, Registry, Path]]:
    settings = load_settings(home=tmp_path / "home", actor="tester")
    registry = Registry.open(settings)
    register_models(registry, tmp_path / "src")
    TrafficPlans(registry.store).set(TrafficPlan(model="credit", stable=3), actor="tester", reason="broken on x2<0")
    spec = tmp_path / "slo.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    yield tmp_path / "home", registry, spec
    registry.store.close()


def infer(client: TestClient, x2: float) -> int:
    body = {
        "inputs": [{"name": n, "datatype": "FP64", "shape": [1], "data": [v]} for n, v in (("x1", 0.5), ("x2", x2))]
    }
    return client.post("/v2/models/credit/infer", json=body).status_code


def test_the_evaluator_in_up_counts_requests_alerts_on_the_bus_and_saves_statuses(
    home: tuple[Path, Registry, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, registry, spec = home
    settings = load_settings(home=folder, actor="tester", slo={"specs": [spec], "tick_s": 60})
    bus = InProcessBus(1000)
    seen: list[Event] = []
    bus.subscribe(seen.extend)
    with TestClient(create_app(settings, bus=bus, monitor=True), raise_server_exceptions=False) as client:
        svc: SloService = client.app.state.mp.extras["slo"]  # type: ignore[attr-defined]
        codes = [infer(client, 0.5) for _ in range(30)] + [infer(client, -1.0) for _ in range(10)]
        assert codes.count(200) == 30 and codes.count(500) == 10
        statuses = {s.slo: s for s in svc.tick()}
        assert bus.flush(5.0)
        avail, fast = statuses["credit-availability"], statuses["credit-fast"]
        assert avail.events["5m"] == 40 and avail.sli["5m"] == pytest.approx(0.75)
        assert avail.burn_rates["1h"] == pytest.approx(25.0)
        assert avail.budget_remaining == pytest.approx(-24.0)
        assert avail.alerts["page"] is not None and avail.alerts["ticket"] is not None
        assert fast.events["5m"] == 40 and fast.sli["5m"] == 1.0 and fast.alerts["page"] is None
        alerts = [e for e in seen if isinstance(e, SloAlertEvent)]
        assert sorted((a.alert["slo"], a.alert["severity"], a.alert["state"]) for a in alerts) == [
            ("credit-availability", "page", "firing"),
            ("credit-availability", "ticket", "firing"),
        ]
        page = next(a for a in alerts if a.alert["severity"] == "page")
        assert page.alert["alertname"] == "ModelAvailabilityBudgetBurn" and page.alert["source"] == "modelpilot"
        assert page.alert["burn_rates"]["5m"] == pytest.approx(25.0)
        metrics = exposition()[0].decode()
        assert 'modelpilot_slo_alert_firing{model="credit",severity="page",slo="credit-availability"} 1.0' in metrics
        assert 'modelpilot_slo_error_budget_remaining_ratio{model="credit",slo="credit-availability"} -24.0' in metrics
    # stopped: the last status and the ledgers are in the store
    saved = {s.slo: s for s, _ in load_statuses(registry.store)}
    assert saved["credit-availability"].events["1h"] == 40
    capsys.readouterr()
    assert main(["--home", str(folder), "slo", "status", "-o", "json"]) == 0
    rows = orjson.loads(capsys.readouterr().out)
    assert [r["slo"] for r in rows] == ["credit-availability", "credit-fast"]
    assert rows[0]["budget_remaining"] == pytest.approx(-24.0) and rows[0]["alerts"]["page"] is not None
    assert main(["--home", str(folder), "slo", "status"]) == 0
    table = capsys.readouterr().out
    assert "credit-availability" in table and "page, ticket" in table and "-2400.0%" in table
    # a restart keeps the period's budget (the ledger) and counts new requests from the new counters
    with TestClient(create_app(settings, bus=InProcessBus(100), monitor=True)) as client:
        svc = client.app.state.mp.extras["slo"]  # type: ignore[attr-defined]
        assert infer(client, 0.5) == 200
        again = {s.slo: s for s in svc.tick()}
    assert again["credit-availability"].events["1h"] == 41
    assert again["credit-availability"].alerts["page"] is not None  # still burning: the alert stays firing


def test_a_bad_spec_stops_start_up_naming_the_problem(home: tuple[Path, Registry, Path], tmp_path: Path) -> None:
    folder, _, _ = home
    bad = tmp_path / "bad.yaml"
    bad.write_text("slos:\n  - name: a\n    model: fraud\n    sli: {kind: availability}\n    objective: 99\n")
    settings = load_settings(home=folder, actor="tester", slo={"specs": [bad]})
    with pytest.raises(ConfigError, match="'fraud' is not registered"):
        create_app(settings, monitor=True)
