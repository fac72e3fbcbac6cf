"""Budget and burn-rate math: properties against brute force, the SRE Workbook's numbers, the ledger's windows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpilot.slo.budget import ALERT_PAIRS, WINDOWS, Ledger, budget_remaining, burn_rate, firing


def test_the_workbook_factors_spend_the_documented_share_of_a_30_day_budget() -> None:
    # burn rate x window / period = share of the budget spent in that window
    shares = {(p.long, p.factor): p.factor * WINDOWS[p.long] / (30 * 86400) for p in ALERT_PAIRS}
    assert shares[("1h", 14.4)] == pytest.approx(0.02)
    assert shares[("6h", 6.0)] == pytest.approx(0.05)
    assert shares[("1d", 3.0)] == pytest.approx(0.10)
    assert shares[("3d", 1.0)] == pytest.approx(0.10)


@given(
    bad=st.integers(0, 10_000),
    extra=st.integers(0, 10_000),
    objective=st.floats(50.0, 99.999),
)
def test_budget_remaining_is_one_minus_the_spent_share(bad: int, extra: int, objective: float) -> None:
    total = bad + extra
    eb = 1 - objective / 100
    left = budget_remaining(bad, total, eb)
    if total == 0:
        assert left == 1.0
        return
    assert left == pytest.approx(1 - (bad / total) / eb, rel=1e-9, abs=1e-9)
    assert left <= 1.0
    # exactly the budget spent leaves nothing; twice the ratio spends twice as much
    assert budget_remaining(eb * total, total, eb) == pytest.approx(0.0, abs=1e-9)
    assert burn_rate(bad / total, eb) == pytest.approx((1 - left), rel=1e-9, abs=1e-9)


@given(ratio=st.floats(0, 1), eb=st.floats(1e-5, 0.5))
def test_page_fires_only_when_both_windows_of_a_pair_burn_faster_than_its_factor(ratio: float, eb: float) -> None:
    quiet = dict.fromkeys(WINDOWS, 0.0)
    long_only = {**quiet, "1h": ratio}
    both = {**quiet, "1h": ratio, "5m": ratio}
    assert not firing("page", long_only, None, eb)
    assert firing("page", both, None, eb) == (ratio > 14.4 * eb)


def test_min_events_guard_holds_back_low_traffic_alerts() -> None:
    ratios = {"1h": 1.0, "5m": 1.0, "6h": 1.0, "30m": 1.0}
    assert not firing("page", ratios, {"1h": 1, "6h": 1}, 0.001, min_events=20)
    assert firing("page", ratios, {"1h": 19, "6h": 20}, 0.001, min_events=20)  # the 6h pair has enough
    assert firing("page", ratios, None, 0.001, min_events=20)  # time-sampled SLIs: no guard


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.floats(0, 4 * 86400), st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=60
    ),
    now_offset=st.floats(0, 86400),
)
def test_ledger_window_sums_match_brute_force_to_one_slot(
    events: list[tuple[float, int, int]], now_offset: float
) -> None:
    step = 10.0
    led = Ledger(28 * 86400, step_s=step)
    base = 1_700_000_000.0
    seen = []
    for t, bad, good in sorted(events):
        led.add(base + t, bad=bad, total=bad + good)
        seen.append((base + t, bad, bad + good))
    now = base + max(t for t, _, _ in events) + now_offset
    for name, w in WINDOWS.items():
        first_slot = math.floor(now / step) - math.ceil(w / step) + 1
        want_bad = sum(b for t, b, _ in seen if math.floor(t / step) >= first_slot and t <= now)
        want_total = sum(n for t, _, n in seen if math.floor(t / step) >= first_slot and t <= now)
        got_bad, got_total = led.sums(w, now)
        assert (got_bad, got_total) == (want_bad, want_total), name


def test_ledger_state_round_trip_and_period_sums() -> None:
    led = Ledger(7 * 86400)
    rng = np.random.default_rng(3)
    t0 = 1_700_000_000.0
    for i in range(2000):
        led.add(t0 + i * 300, bad=float(rng.integers(0, 3)), total=100.0)
    now = t0 + 1999 * 300
    again = Ledger.from_state(led.to_state())
    for w in [*WINDOWS.values(), 7 * 86400]:
        assert again.sums(w, now) == led.sums(w, now)
    _, total = led.sums(7 * 86400, now)
    assert total == pytest.approx(100 * (7 * 86400 // 300 + 1), rel=0.01)  # one coarse slot of slack
    with pytest.raises(ValueError, match="bad <= total"):
        led.add(now, bad=2, total=1)


def test_ledger_forgets_what_falls_out_of_its_rings() -> None:
    led = Ledger(7 * 86400)
    led.add(0.0, bad=5, total=10)
    assert led.sums(3600, 10.0) == (5, 10)
    assert led.sums(3600, 3600 + 10.0) == (0, 0)
    led.add(10 * 86400, bad=0, total=1)
    assert led.sums(7 * 86400, 10 * 86400) == (0, 1)
