"""End to end: a real Prometheus scrapes a running `modelpilot up` and evaluates the rendered rules. Injected
errors make the page alert fire in Prometheus, and the in-process evaluator (its gauges, scraped by the same
Prometheus, and `modelpilot slo status`) reports the same burn rates and budget.

Tolerance: 5% relative. Both sides count the same counters; Prometheus' ``rate`` extrapolates to the window's
edges, but numerator and denominator are scraped at the same instants, so their ratio is nearly exact. The period's
error ratio is time-weighted in the rules (the mean of the 5-minute ratios, as Sloth does) and event-weighted in
process; the traffic below keeps one error share (1 in 4) throughout, so the two coincide.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson
import pytest

from modelpilot.cli.app import main
from modelpilot.config import load_settings
from modelpilot.registry import Registry
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from modelpilot.slo.rules import render_rules
from modelpilot.slo.spec import load_specs
from tests.conftest import missing_component
from tests.prometheus_server import PrometheusServer, find_prometheus
from tests.serving.models import register_models
from tests.serving.server_process import ServerProcess

pytestmark = pytest.mark.slow

SPEC = """\
slos:
  - name: availability
    model: credit
    sli: {kind: availability}
    objective: 99
    period: 28d
"""
SLO = "credit-availability"


def _infer(client: httpx.Client, url: str, x2: float) -> int:
    body = {
        "inputs": [{"name": n, "datatype": "FP64", "shape": [1], "data": [v]} for n, v in (("x1", 0.5), ("x2", x2))]
    }
    return client.post(f"{url}/v2/models/credit/infer", json=body).status_code


def _send(url: str, rounds: int) -> list[int]:
    """``rounds`` times: three good requests and one that makes the model raise (a 500)."""
    codes = []
    with httpx.Client(timeout=10.0) as client:
        for _ in range(rounds):
            codes += [_infer(client, url, 0.5) for _ in range(3)] + [_infer(client, url, -1.0)]
    return codes


def _close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) <= 0.05 * max(abs(a), abs(b))


def test_prometheus_and_the_in_process_evaluator_agree_and_the_page_alert_fires(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if find_prometheus() is None:
        missing_component("Prometheus (Debian package prometheus)")
    home = tmp_path / "home"
    registry = Registry.open(load_settings(home=home, actor="tester"))
    register_models(registry, tmp_path / "src")
    # version 3 raises on rows with x2 < 0: the injected errors
    TrafficPlans(registry.store).set(TrafficPlan(model="credit", stable=3), actor="tester", reason="e2e")
    registry.store.close()
    spec = tmp_path / "slo.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    rules = render_rules(load_specs(spec), tmp_path / "rules")
    env = {"MODELPILOT_SLO__TICK_S": "1"}
    with ServerProcess(home, command="up", args=("--slo", str(spec)), env=env) as server:
        target = server.url.removeprefix("http://")
        with PrometheusServer(tmp_path / "prom", [target], rules) as prom:
            # both series exist (and were scraped) before the measured traffic, so rate() sees all of it
            assert _send(server.url, 1) == [200, 200, 200, 500]
            prom.wait_for('count(modelpilot_requests_total{model="credit"}) == 2')
            time.sleep(2.0)
            codes = _send(server.url, 75)
            assert codes.count(500) == 75 and codes.count(200) == 225
            # error ratio 1/4 against a budget of 1%: burn rate 25 > 14.4 on both page windows, 300 events > 20
            firing = prom.wait_for(
                f'ALERTS{{alertname="ModelAvailabilityBudgetBurn",sloth_id="{SLO}",severity="page",'
                'alertstate="firing"}',
                timeout=60,
            )
            assert firing[0]["metric"]["model"] == "credit"
            time.sleep(3.0)  # a few more evaluations on both sides
            checks = {
                "burn rate 5m": (
                    f'slo:current_burn_rate:ratio{{sloth_id="{SLO}"}}',
                    f'modelpilot_slo_burn_rate{{slo="{SLO}",window="5m"}}',
                ),
                "error ratio 1h": (
                    f'slo:sli_error:ratio_rate1h{{sloth_id="{SLO}"}}',
                    f'modelpilot_slo_sli_error_ratio{{slo="{SLO}",window="1h"}}',
                ),
                "budget remaining": (
                    f'slo:period_error_budget_remaining:ratio{{sloth_id="{SLO}"}}',
                    f'modelpilot_slo_error_budget_remaining_ratio{{slo="{SLO}"}}',
                ),
                "page alert": (
                    f'max(ALERTS{{sloth_id="{SLO}",severity="page",alertstate="firing"}})',
                    f'modelpilot_slo_alert_firing{{slo="{SLO}",severity="page"}}',
                ),
            }
            measured = {name: (prom.value(rules_q), prom.value(ours_q)) for name, (rules_q, ours_q) in checks.items()}
            assert all(_close(a, b) for a, b in measured.values()), measured
            assert _close(measured["burn rate 5m"][0], 25.0), measured
            assert _close(measured["budget remaining"][1], -24.0), measured
            assert measured["page alert"] == (1.0, 1.0)
            capsys.readouterr()
            assert main(["--home", str(home), "slo", "status", "-o", "json"]) == 0
            status = orjson.loads(capsys.readouterr().out)[0]
            assert _close(status["burn_rates"]["5m"], 25.0) and status["alerts"]["page"] is not None
