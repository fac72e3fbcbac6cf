"""The in-process evaluator: counts from metric samples like a scrape would, alerts with the workbook's pairs and
the minimum-events guard, survives counter resets and restarts."""

from __future__ import annotations

import pytest

from modelpilot.slo.evaluator import Evaluator
from modelpilot.slo.sli import Sample
from modelpilot.slo.spec import SloSpec

T0 = 1_800_000_000.0


def avail(**alerting: object) -> SloSpec:
    return SloSpec.model_validate(
        {"name": "avail", "model": "credit", "sli": {"kind": "availability"}, "objective": 99.9, "alerting": alerting}
    )


def requests(good: float, bad: float, *, variant: str = "stable") -> list[Sample]:
    labels = {"model": "credit", "version": "1", "variant": variant, "protocol": "v2"}
    return [
        ("modelpilot_requests_total", {**labels, "code": "200"}, good),
        ("modelpilot_requests_total", {**labels, "code": "503"}, bad),
        ("modelpilot_requests_total", {**labels, "code": "200", "model": "other"}, 1e9),  # another model
    ]


def run(ev: Evaluator, seconds: int, rate: float, error_share: float, start: float, state: list[float]) -> float:
    """Feed ``seconds`` of traffic at ``rate`` req/s with ``error_share`` failing, one evaluation per 10 s."""
    t = start
    for _ in range(seconds // 10):
        t += 10
        state[0] += rate * 10 * (1 - error_share)
        state[1] += rate * 10 * error_share
        ev.evaluate(requests(state[0], state[1]), t)
    return t


def test_a_full_outage_pages_within_a_minute_and_resolves_after_the_short_window() -> None:
    ev = Evaluator([avail()])
    counters = [0.0, 0.0]
    t = run(ev, 6 * 3600, 10, 0.0, T0, counters)  # a full 6h of history, so only the 1h/5m pair can fire
    fired_at = None
    for step in range(1, 31):  # 100% errors: the 1h ratio passes 14.4 x 0.001 after 51.8 s
        t += 10
        counters[1] += 100
        statuses, alerts = ev.evaluate(requests(*counters), t)
        if any(a["severity"] == "page" and a["state"] == "firing" for a in alerts):
            fired_at = step * 10
            break
    assert fired_at == 60  # the first 10 s slot past 51.8 s
    st = statuses[0]
    assert st.alerts["page"] == t and st.burn_rates["5m"] is not None and st.burn_rates["5m"] > 14.4
    # errors stop: the 5m window clears after 5 minutes and the page resolves though the 1h window still burns
    resolved_after = None
    for step in range(1, 60):
        t += 10
        counters[0] += 100
        statuses, alerts = ev.evaluate(requests(*counters), t)
        if any(a["severity"] == "page" and a["state"] == "resolved" for a in alerts):
            resolved_after = step * 10
            break
    assert resolved_after is not None and 240 <= resolved_after <= 300
    assert statuses[0].burn_rates["1h"] is not None and statuses[0].burn_rates["1h"] > 14.4


def test_a_steady_half_budget_burn_never_alerts_and_spends_half_the_budget() -> None:
    ev = Evaluator([avail()])
    counters = [0.0, 0.0]
    t, fired = T0, []
    for _ in range(3 * 24):  # three days, an evaluation a minute
        for _ in range(60):
            t += 60
            counters[0] += 599.7
            counters[1] += 0.3
            _, alerts = ev.evaluate(requests(*counters), t)
            fired += alerts
    assert fired == []
    st = ev.status(ev.specs[0], t)
    assert st.burn_rates["3d"] == pytest.approx(0.5, rel=1e-6)
    assert st.budget_remaining == pytest.approx(0.5, rel=1e-6)


def test_the_guards_keep_one_failure_on_low_traffic_from_paging() -> None:
    ev = Evaluator([avail(min_events=20)])
    _, alerts = ev.evaluate(requests(5, 1), T0)  # one failure among 6 requests in the hour
    assert alerts == []
    st = ev.status(ev.specs[0], T0)
    assert st.burn_rates["1h"] == pytest.approx((1 / 6) / 0.001)
    # enough events, but one bad one: the default min_bad_events of 2 still holds it back, at any traffic
    ev = Evaluator([avail(min_events=0)])
    assert ev.evaluate(requests(50, 1), T0)[1] == []  # 2% errors, far above 14.4 x 0.1%, but one event
    assert {a["severity"] for a in ev.evaluate(requests(50, 2), T0 + 10)[1]} == {"page", "ticket"}
    unguarded = Evaluator([avail(min_events=0, min_bad_events=1)])
    _, alerts = unguarded.evaluate(requests(5, 1), T0)
    assert {a["severity"] for a in alerts} == {"page", "ticket"}


def test_a_severity_turned_off_resolves_what_it_held() -> None:
    on = Evaluator([avail(min_events=0)])
    on.evaluate(requests(90, 10), T0)
    off = Evaluator([avail(min_events=0, page=False)])
    off.restore(on.to_state())
    assert off.status(off.specs[0], T0).alerts["page"] == T0
    _, alerts = off.evaluate(requests(0, 0), T0 + 10)
    assert [(a["severity"], a["state"]) for a in alerts] == [("page", "resolved")]
    assert off.status(off.specs[0], T0 + 10).alerts == {"page": None, "ticket": T0}


def test_counter_resets_count_from_zero_and_other_variants_are_filtered() -> None:
    ev = Evaluator([avail()])
    ev.evaluate(requests(1000, 0), T0)
    ev.evaluate(requests(10, 10), T0 + 10)  # the process restarted: 10 good and 10 bad since
    ev.evaluate(requests(10, 10, variant="shadow") + requests(10, 10), T0 + 20)  # shadows are not counted
    st = ev.status(ev.specs[0], T0 + 20)
    assert st.events["5m"] == 1020
    assert st.sli["5m"] == pytest.approx(1010 / 1020)


def test_state_round_trip_keeps_the_budget_and_firing_alerts() -> None:
    ev = Evaluator([avail(min_events=0)])
    ev.evaluate(requests(900, 100), T0)
    copy = Evaluator([avail(min_events=0)])
    assert copy.restore(ev.to_state()) == ["credit-avail"]
    a, b = ev.status(ev.specs[0], T0 + 5), copy.status(copy.specs[0], T0 + 5)
    assert a == b
    assert b.alerts["page"] == T0
    _, alerts = copy.evaluate(requests(5, 0), T0 + 10)  # new process: counters start again from zero
    assert alerts == []
    assert copy.status(copy.specs[0], T0 + 10).events["5m"] == 1005


def spec(kind: str, **sli: object) -> SloSpec:
    return SloSpec.model_validate(
        {"name": kind.replace("_", "-"), "model": "credit", "sli": {"kind": kind, **sli}, "objective": 99}
    )


def test_every_ratio_kind_reads_its_counters() -> None:
    base = {"model": "credit", "version": "2", "variant": "stable"}
    samples: list[Sample] = [
        ("modelpilot_request_duration_seconds_count", {**base, "protocol": "v2"}, 100.0),
        ("modelpilot_request_duration_seconds_bucket", {**base, "protocol": "v2", "le": "0.25"}, 90.0),
        ("modelpilot_request_duration_seconds_bucket", {**base, "protocol": "v2", "le": "0.5"}, 95.0),
        ("modelpilot_monitor_windows_total", base, 10.0),
        ("modelpilot_monitor_alarm_windows_total", {**base, "kind": "drift", "severity": "warning"}, 2.0),
        ("modelpilot_monitor_alarm_windows_total", {**base, "kind": "drift", "severity": "critical"}, 1.0),
        ("modelpilot_monitor_alarm_windows_total", {**base, "kind": "quality", "severity": "critical"}, 5.0),
        ("modelpilot_monitor_rows_total", base, 1000.0),
        ("modelpilot_monitor_flagged_rows_total", base, 7.0),
        ("modelpilot_label_outcomes_total", {**base, "outcome": "joined"}, 80.0),
        ("modelpilot_label_outcomes_total", {**base, "outcome": "missing"}, 20.0),
        (
            "modelpilot_window_performance_ratio_count",
            {**base, "metric": "accuracy", "source": "realized"},
            8.0,
        ),
        (
            "modelpilot_window_performance_ratio_bucket",
            {**base, "metric": "accuracy", "source": "realized", "le": "0.8"},
            3.0,
        ),
        (
            "modelpilot_window_performance_ratio_bucket",
            {**base, "metric": "accuracy", "source": "estimated", "le": "0.8"},
            1.0,
        ),
        (
            "modelpilot_window_performance_ratio_count",
            {**base, "metric": "accuracy", "source": "estimated"},
            10.0,
        ),
    ]
    specs = [
        spec("latency", threshold_s=0.25),
        spec("drift_free"),
        spec("drift_free", severity="critical").model_copy(update={"name": "drift-critical"}),
        spec("data_quality"),
        spec("label_coverage"),
        spec("accuracy", target=0.8),
        spec("estimated_accuracy", target=0.8),
    ]
    ev = Evaluator(specs)
    statuses, _ = ev.evaluate(samples, T0)
    got = {s.slo: (s.events["5m"], round(1 - (s.sli["5m"] or 0), 6)) for s in statuses}
    assert got == {
        "credit-latency": (100, 0.1),
        "credit-drift-free": (10, 0.3),
        "credit-drift-critical": (10, 0.1),
        "credit-data-quality": (1000, 0.007),
        "credit-label-coverage": (100, 0.2),
        "credit-accuracy": (8, 0.375),
        "credit-estimated-accuracy": (10, 0.1),
    }


def test_freshness_samples_time_since_the_newest_event() -> None:
    ev = Evaluator([spec("freshness", max_age_s=300)])
    statuses, _ = ev.evaluate([], T0)  # no event yet: nothing to judge
    assert statuses[0].events["5m"] == 0
    last = [("modelpilot_monitor_last_event_timestamp_seconds", {"model": "credit"}, T0)]
    for i in range(1, 61):  # ten minutes without a new event, a sample every 10 s
        statuses, _ = ev.evaluate(last, T0 + 10 * i)
    st = statuses[0]
    assert st.events["1h"] == 60
    assert st.sli["1h"] == pytest.approx(30 / 60)  # stale from 310 s on: samples 31..60
