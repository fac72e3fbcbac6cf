"""What the dashboard derives from the stores' records, without I/O: alarms in force and health, drift and quality
by window, estimated against realized performance, rollout lanes and verdicts, and request rates from counters."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from modelpilot.audit.chain import GENESIS, make_entry
from modelpilot.control.rollout import RolloutSpec, advance, start
from modelpilot.monitoring.results import Alarm, ColumnResult, QualityResult, WindowResult
from modelpilot.slo.evaluator import SloStatus
from modelpilot.ui import shape, windows
from modelpilot.ui.rates import RatePoint, RequestRates, Totals, quantile, totals_of


def _alarm(kind: str, transition: str, severity: str | None, *, version: int = 1, window: int = 0) -> Alarm:
    return Alarm.model_validate(
        {"model": "m", "version": version, "variant": "stable", "kind": kind, "transition": transition,
         "severity": severity, "subjects": {"income": severity or "warning"}, "window": window, "time": float(window),
         "evidence": {}}
    )  # fmt: skip


def test_alarms_in_force_follow_their_transitions_and_the_served_versions() -> None:
    alarms = [
        _alarm("drift", "raised", "warning", window=1),
        _alarm("drift", "escalated", "critical", window=2),
        _alarm("quality", "raised", "warning", window=2),
        _alarm("quality", "resolved", None, window=3),
        _alarm("drift", "raised", "critical", version=2, window=4),  # a rolled-back canary, no longer served
    ]
    active = shape.active_alarms(alarms, served=[1])
    assert [(a["version"], a["kind"], a["severity"], a["window"]) for a in active] == [(1, "drift", "critical", 2)]
    assert len(shape.active_alarms(alarms)) == 2
    assert [r["transition"] for r in shape.alarm_rows(alarms)][:2] == ["raised", "resolved"]  # newest first


def _slo(alerts: dict[str, float | None], budget: float = 0.5) -> SloStatus:
    windows = {"5m": 0.99, "1h": 0.99, "period": 0.99}
    return SloStatus(slo="m-a", name="a", model="m", kind="availability", objective=99.0, period="28d",
                     error_budget=0.01, time=10.0, sli=windows, burn_rates={"5m": 1.0, "1h": None, "period": 1.0},
                     events={"5m": 10.0, "period": 10.0}, budget_remaining=budget, alerts=alerts)  # fmt: skip


def test_health_is_the_worst_of_alarms_and_slo_alerts() -> None:
    saved = datetime(2026, 1, 1, tzinfo=UTC)
    quiet = shape.slo_rows([(_slo({"page": None, "ticket": None}), saved)])
    ticket = shape.slo_rows([(_slo({"page": None, "ticket": 5.0}), saved)])
    page = shape.slo_rows([(_slo({"page": 5.0, "ticket": 5.0}), saved)])
    spent = shape.slo_rows([(_slo({"page": None, "ticket": None}, budget=-0.2), saved)])
    assert quiet[0]["burn_rates"] == {"5m": 1.0, "1h": None} and quiet[0]["firing"] == {}
    assert [shape.health([], s) for s in (quiet, ticket, page, spent)] == ["ok", "warning", "critical", "warning"]
    assert shape.health([{"severity": "warning"}], page) == "critical"


def _column(key: str, psi: float, severity: str | None, *, role: str = "feature", judged: bool = True) -> ColumnResult:
    return ColumnResult.model_validate(
        {"key": key, "role": role, "kind": "numeric", "n": 200, "psi": psi, "js": psi / 2, "hellinger": 0.1,
         "wasserstein": 0.1, "ks": 0.1, "chi2": None, "p_value": 0.001, "test": "ks", "judged": judged,
         "significant": severity is not None, "severity": severity}
    )  # fmt: skip


def _window(n: int, *, kind: str = "traffic", variant: str = "stable", version: int = 1, **kw: Any) -> WindowResult:
    base: dict[str, Any] = {
        "model": "m", "version": version, "variant": variant, "kind": kind, "window": n, "start": 100.0 * n,
        "end": 100.0 * n + 50, "rows": 200, "events": 4, "errors": 0, "mean_latency_s": 0.001, "drift": [],
        "quality": [],
    }  # fmt: skip
    return WindowResult.model_validate({**base, **kw})


def test_the_drift_matrix_has_a_row_per_column_and_a_cell_per_window() -> None:
    ws = [
        _window(0, drift=[_column("income", 0.02, None), _column("@prediction", 0.01, None, role="prediction")]),
        _window(1, kind="labels"),  # windows of labels carry no drift and are left out
        _window(2, drift=[_column("income", 0.4, "critical"), _column("age", 0.0, None, judged=False)]),
    ]
    m = windows.drift_matrix(ws)
    assert m["rows"] == ["income", "age", "@prediction"]  # inputs first, then outputs
    assert m["columns"] == ["v1 #0", "v1 #2"]
    assert m["psi"] == [[0.02, 0.4], [None, None], [0.01, None]]
    assert m["severity"][0] == [None, "critical"]
    assert "PSI 0.400" in m["tips"][0][1] and "not judged" in m["tips"][1][1] and "not measured" in m["tips"][2][1]
    assert m["drifted"] == ["income"]


def test_quality_findings_are_gathered_by_column() -> None:
    bad = QualityResult(key="age", counts={"out_of_range": 30}, ratios={"out_of_range": 0.15, "missing": 0.0},
                        severity="critical", worst="out_of_range")  # fmt: skip
    fine = QualityResult(key="age", counts={}, ratios={}, severity=None)
    q = windows.quality([_window(0, quality=[fine]), _window(1, quality=[bad], flagged_rows=30)])
    assert q["findings"] == [
        {"column": "age", "windows": 1, "severity": "critical", "worst": "out_of_range",
         "ratios": {"out_of_range": 0.15}, "last": "v1 #1", "time": 150.0},
    ]  # fmt: skip
    assert [(f["x"], f["share"]) for f in q["flagged"]] == [(0, 0.0), (1, 0.15)] and q["times"] == [50.0, 150.0]


def test_performance_puts_estimates_and_realized_values_in_the_order_windows_closed() -> None:
    ws = [
        _window(0, estimated={"accuracy": 0.8, "roc_auc": 0.9}),
        _window(1, kind="labels", estimated={"accuracy": 0.79}, realized={"accuracy": 0.75}, labeled=200,
                reconciliation={"accuracy": {"within": True}}),
        _window(2, estimated={"accuracy": float("nan")}),
    ]  # fmt: skip
    p = windows.performance(ws)
    assert p["metric"] == "accuracy" and p["metrics"] == ["accuracy", "roc_auc"]
    assert [(s["name"], s["points"]) for s in p["series"]] == [
        ("v1 stable estimated", [[0, 0.8]]),
        ("v1 stable realized", [[1, 0.75]]),
    ]
    assert p["latest"] == [{"version": 1, "variant": "stable", "estimated": 0.8, "realized": 0.75, "within": True,
                            "labeled": 200}]  # fmt: skip
    assert windows.performance(ws, "roc_auc")["series"][0]["points"] == [[0, 0.9]]


def _entry(seq: int, action: str, evidence: Any, subject: str = "model:m/rollout:1") -> Any:
    return make_entry(seq, GENESIS, datetime.fromtimestamp(1000.0 + seq, UTC), "controller", action, subject, "m",
                      "verdict", evidence)  # fmt: skip


def test_rollouts_get_a_lane_and_their_verdicts_with_every_check() -> None:
    spec = RolloutSpec(model="m", version=2, stable=1, steps=(50, 100), interval_s=60)
    r0 = start(spec, now=0.0)
    r1, t1 = advance(r0, "fail", now=60.0, reason="errors")
    assert t1 is not None
    check = {"name": "errors", "outcome": "fail", "reason": "worse", "statistics": {"canary_rate": 0.25},
             "thresholds": {"tolerance": 0.05}, "samples": {"canary_requests": 120}}  # fmt: skip
    evidence = {
        "verdict": {"outcome": "fail", "analysis": "default", "checks": [check], "time": 60.0},
        "interval": {"start": 0.0, "end": 60.0, "seconds": 60.0},
        "weight": 50.0,
        "transition": {"event": t1.event, "from": t1.before, "to": t1.after, "weight": t1.weight},
    }
    entries = [_entry(1, "rollout.start", {}), _entry(2, "rollout.verdict", evidence),
               _entry(3, "rollout.verdict", evidence, subject="model:m/rollout:9")]  # fmt: skip
    (row,) = shape.rollout_rows([(1, r1)], entries, now=500.0)
    assert row["phase"] == "rolled_back" and not row["active"] and len(row["verdicts"]) == 1
    verdict = row["verdicts"][0]
    assert (verdict["outcome"], verdict["event"], verdict["weight"], verdict["time"]) == ("fail", "rolled_back", 50, 60)
    assert verdict["checks"] == [check]
    lane = row["lane"]
    assert (lane["start"], lane["end"], lane["final"]) == (0.0, 60.0, "rolled_back")
    assert lane["steps"] == [(0.0, 50.0), (60.0, 0.0)] and lane["marks"] == [(60.0, "fail", "verdict")]
    orjson.dumps(row)


def test_audit_rows_are_newest_first_with_parsed_evidence() -> None:
    rows = shape.audit_rows([_entry(1, "a", {"x": [1, 2]}), _entry(2, "b", None)])
    assert [(r["seq"], r["evidence"]) for r in rows] == [(2, None), (1, {"x": [1, 2]})]
    assert "evidence" not in shape.audit_rows([_entry(1, "a", {})], evidence=False)[0]


# ------------------------------------------------------------------------------------------------ request rates
def _samples(ok: float, failed: float, fast: float, slow: float) -> list[tuple[str, dict[str, str], float]]:
    labels = {"model": "m", "version": "1", "variant": "stable", "protocol": "v2"}
    total = fast + slow
    return [
        ("modelpilot_requests_total", {**labels, "code": "200"}, ok),
        ("modelpilot_requests_total", {**labels, "code": "500"}, failed),
        ("modelpilot_requests_total", {**labels, "code": "404"}, 0.0),
        ("modelpilot_request_duration_seconds_bucket", {**labels, "le": "0.01"}, fast),
        ("modelpilot_request_duration_seconds_bucket", {**labels, "le": "0.1"}, total),
        ("modelpilot_request_duration_seconds_bucket", {**labels, "le": "+Inf"}, total),
        ("modelpilot_request_duration_seconds_sum", labels, fast * 0.005 + slow * 0.05),
        ("modelpilot_request_duration_seconds_count", labels, total),
        ("modelpilot_drift_score", {"model": "m"}, 3.0),
    ]


def test_rates_are_differences_between_samples() -> None:
    current = [_samples(0, 0, 0, 0)]
    rates = RequestRates(source=lambda: current[0], keep=3)
    rates.observe(now=10.0)
    assert rates.series("m") == {}
    current[0] = _samples(95, 5, 90, 10)
    rates.observe(now=12.0)
    (point,) = rates.series("m")["v1 stable"]
    assert point.rate == 50.0 and point.error_ratio == 0.05
    assert point.mean_latency_s == pytest.approx(0.0095)
    assert point.p95_latency_s == pytest.approx(0.01 + 0.09 * 0.5)
    for i in range(4):
        rates.observe(now=14.0 + 2 * i)
    assert len(rates.series("m")["v1 stable"]) == 3 and rates.series("m")["v1 stable"][-1].rate == 0.0
    assert rates.totals("m")["v1 stable"].requests == 100 and "m/v1 stable" in rates.totals()
    assert rates.series("other") == {}


def test_a_counter_that_goes_back_starts_the_series_again() -> None:
    current = [_samples(100, 0, 100, 0)]
    rates = RequestRates(source=lambda: current[0])
    rates.observe(now=0.0)
    current[0] = _samples(10, 0, 10, 0)  # a restarted worker
    rates.observe(now=2.0)
    current[0] = _samples(30, 0, 30, 0)
    rates.observe(now=4.0)
    assert [p.rate for p in rates.series("m")["v1 stable"]] == [10.0]


def test_totals_quantiles_and_the_traffic_shape() -> None:
    totals = totals_of(_samples(90, 10, 50, 50))[("m", "1", "stable")]
    assert (totals.requests, totals.errors, totals.error_ratio) == (100, 10, 0.1)
    assert totals.quantile(0.5) == pytest.approx(0.01) and quantile(0.5, []) is None
    assert quantile(0.99, [(0.1, 10.0), (math.inf, 20.0)]) == 0.1  # in the +Inf bucket: the last finite bound
    t = shape.traffic(
        {"v1 stable": [RatePoint(2.0, 5.0, None, None, 0.02)]}, {"v1 stable": totals, "v2 canary": Totals()}
    )
    assert t["series"] == ["v1 stable", "v2 canary"]
    assert t["rows"][0]["rate"] == 5.0 and t["rows"][1]["rate"] is None
    assert t["p95_ms"][0]["points"] == [[2.0, 20.0]] and t["error_pct"][0]["points"] == [[2.0, None]]
