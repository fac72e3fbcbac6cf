"""The Prometheus rules rendered from SLO specs: a golden file, ``promtool check rules`` on every rendering, and
``promtool test rules`` scenarios that pin down when the burn-rate alerts fire and when they resolve.

How the scenarios are built (so that every expectation below is plain arithmetic):

- Input series are sampled every minute (``interval: 1m``, like a 1-minute scrape). t=0 is the first sample and
  every counter is 0 there, so ``rate()`` over a window reaching back before the data is not extrapolated
  (Prometheus extrapolates no further back than a counter's zero point).
- Rules are evaluated on the same 1-minute grid (one scenario uses 10 minutes to keep three days short), so a window
  ``[t - w, t]`` starts and ends on a sample and ``rate()`` is exactly ``increase / w``. Prometheus 2 range
  selectors include both ends: the window holds the increments of minutes ``t - w + 1 .. t``.
- Freshness records its instant value (``slo:sli_error:ratio_instant``, 1 while stale) at every evaluation and
  averages it over each window. At a 1-minute evaluation interval the instant samples sit on the minute grid, and as
  the window ``[t - w, t]`` includes both ends it holds w/1m + 1 of them (5m: 6, 30m: 31, 1h: 61, 2h: 121, 6h: 361);
  a window reaching back before t=0 holds the t + 1 samples of minutes 0..t. Recording rules of one group run in
  order, so the windows at ``t`` already hold the instant sample recorded at ``t``.
- ``group_eval_order`` evaluates each SLO's recording groups before its alert group, so an alert at ``t`` reads
  the ratios recorded at ``t``. (A Prometheus server runs groups on their own schedules: an alert may lag its
  recordings by one evaluation interval.)
- The alerts have no ``for:``: an alert is ``firing`` at the first evaluation its expression returns a series.
- ``alert_rule_test`` compares the whole set of alerts firing under the name, so a step that expects the page also
  lists the ticket when the slow-burn condition holds too (the comment says why).

Availability, objective 99.9 %: error budget 0.001. The page fires on 1h and 5m ratios above 14.4 * 0.001 = 0.0144,
or 6h and 30m above 6 * 0.001 = 0.006; the ticket on 1d and 2h above 3 * 0.001 = 0.003, or 3d and 6h above
0.001. Each pair also needs ``min_events`` = 20 events in its long window.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelpilot.slo.rules import render_rules, rule_groups, to_yaml
from modelpilot.slo.spec import Alerting, SloSpec, parse_specs
from modelpilot.telemetry.metrics import LATENCY_BUCKETS, PERFORMANCE_BUCKETS
from tests.conftest import missing_component

GOLDEN = Path(__file__).parent / "golden" / "credit.rules.yml"
REGENERATE = "UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/slo/test_rules.py"

CREDIT = """
slos:
  - name: availability
    model: credit
    sli: {kind: availability}
    objective: 99.9
  - name: latency
    model: credit
    sli: {kind: latency, threshold_s: 0.25}
    objective: 99
  - name: freshness
    model: credit
    sli: {kind: freshness, max_age_s: 300}
    objective: 99
  - name: accuracy
    model: credit
    sli: {kind: accuracy, target: 0.8}
    objective: 95
  - name: drift
    model: credit
    sli: {kind: drift_free}
    objective: 99
  - name: data-quality
    model: credit
    sli: {kind: data_quality}
    objective: 99.5
  - name: label-coverage
    model: credit
    sli: {kind: label_coverage}
    objective: 90
  - name: estimated-auc
    model: credit
    sli: {kind: estimated_accuracy, metric: roc_auc, target: 0.7}
    objective: 95
"""
SPECS = parse_specs(
    CREDIT, source="credit.slo.yml", latency_buckets=LATENCY_BUCKETS, performance_buckets=PERFORMANCE_BUCKETS
)
BY_NAME = {spec.name: spec for spec in SPECS}
AVAILABILITY, LATENCY, FRESHNESS = BY_NAME["availability"], BY_NAME["latency"], BY_NAME["freshness"]

# The label sets modelpilot.telemetry.metrics writes (REQUESTS, REQUEST_DURATION, LAST_EVENT_TIME).
REQUESTS = 'modelpilot_requests_total{{model="credit",version="1",variant="stable",protocol="v2",code="{code}"}}'
DURATION = (
    'modelpilot_request_duration_seconds{suffix}{{model="credit",version="1",variant="stable",protocol="v2"{le}}}'
)
LAST_EVENT = 'modelpilot_monitor_last_event_timestamp_seconds{model="credit"}'


# ------------------------------------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool") or ("/usr/bin/promtool" if os.access("/usr/bin/promtool", os.X_OK) else None)
    if found is None:
        missing_component("promtool (Debian package prometheus)")
    assert found is not None
    return found


def per_minute(*runs: tuple[int, int]) -> list[int]:
    """Per-minute increments: ``(minutes, increment)`` runs, one after the other."""
    return [inc for minutes, inc in runs for _ in range(minutes)]


def counter(increments: Sequence[float]) -> str:
    """promtool ``values`` of a counter sampled every minute: 0 at t=0, then rising by ``increments[i]`` at minute
    ``i + 1`` (runs of equal increments in the expanding notation ``a+bxn``, which stands for n + 1 samples)."""
    parts, value, i = ["0"], 0.0, 0
    while i < len(increments):
        step, j = increments[i], i
        while j < len(increments) and increments[j] == step:
            j += 1
        parts.append(f"{_num(value + step)}+{_num(step)}x{j - i - 1}")
        value += step * (j - i)
        i = j
    return " ".join(parts)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def requests(good: Sequence[int], bad: Sequence[int]) -> list[dict[str, str]]:
    """The availability counters: ``code="200"`` rises by ``good``, ``code="500"`` by ``bad`` each minute."""
    assert len(good) == len(bad)
    return [
        {"series": REQUESTS.format(code="200"), "values": counter(good)},
        {"series": REQUESTS.format(code="500"), "values": counter(bad)},
    ]


def ids(spec: SloSpec, window: str | None = None, name: str = "") -> str:
    """The label set (as promtool writes it) of a series an SLO's recording rules produce."""
    labels = {"sloth_id": spec.id, "sloth_service": spec.model, "sloth_slo": spec.name}
    if window:
        labels["sloth_window"] = window
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def alerts(spec: SloSpec, minute: int, *severities: str) -> dict[str, Any]:
    """An ``alert_rule_test``: at ``minute`` exactly the alerts of ``severities`` fire under the SLO's alert name."""
    rendered = {r["labels"]["severity"]: r for g in rule_groups([spec])["groups"] for r in g["rules"] if "alert" in r}
    exp = [
        {
            "exp_labels": {
                "alertname": spec.alert_name,
                "severity": severity,
                "sloth_severity": severity,
                "sloth_id": spec.id,
                "sloth_service": spec.model,
                "sloth_slo": spec.name,
                "model": spec.model,
                "slo": spec.id,
            },
            "exp_annotations": rendered[severity]["annotations"],
        }
        for severity in severities
    ]
    return {"eval_time": f"{minute}m", "alertname": spec.alert_name, "exp_alerts": exp}


def value(expr: str, minute: int, labels: str, expected: float) -> dict[str, Any]:
    """A ``promql_expr_test``: ``expr`` at ``minute`` is one sample (compared exactly by promtool)."""
    return {"expr": expr, "eval_time": f"{minute}m", "exp_samples": [{"labels": labels, "value": expected}]}


def nothing(expr: str, minute: int) -> dict[str, Any]:
    """A ``promql_expr_test``: ``expr`` at ``minute`` returns no series."""
    return {"expr": expr, "eval_time": f"{minute}m", "exp_samples": []}


def run_promtool_test(
    promtool: str,
    tmp_path: Path,
    specs: Sequence[SloSpec],
    tests: list[dict[str, Any]],
    *,
    evaluation_interval: str = "1m",
) -> None:
    """Render ``specs`` with :func:`render_rules`, write a promtool test file for ``tests`` and run it."""
    [rules] = render_rules(specs, tmp_path / "rules")
    doc = {
        "rule_files": [str(rules)],
        "evaluation_interval": evaluation_interval,
        "group_eval_order": [g["name"] for g in rule_groups(specs)["groups"]],
        "tests": [{"interval": "1m", **t} for t in tests],
    }
    path = tmp_path / "scenario.test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000), encoding="utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, (
        f"promtool test rules {path} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    )


# ------------------------------------------------------------------------------------------------------- golden
def test_rules_match_the_golden_file(tmp_path: Path) -> None:
    rendered = to_yaml(rule_groups(SPECS))
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(rendered, encoding="utf-8")
    if not GOLDEN.exists():
        pytest.fail(f"{GOLDEN} is missing; create it with `{REGENERATE}` and review it", pytrace=False)
    golden = GOLDEN.read_text(encoding="utf-8")
    if rendered != golden:
        diff = "".join(
            difflib.unified_diff(
                golden.splitlines(keepends=True), rendered.splitlines(keepends=True), str(GOLDEN), "rendered", n=2
            )
        )
        pytest.fail(
            f"the rendered rules differ from {GOLDEN.name}; if the change is intended, regenerate with "
            f"`{REGENERATE}` and review the diff:\n{diff}",
            pytrace=False,
        )
    # render_rules writes the same text, one file per model.
    assert render_rules(SPECS, tmp_path) == [tmp_path / "credit.rules.yml"]
    assert (tmp_path / "credit.rules.yml").read_text(encoding="utf-8") == golden


# ------------------------------------------------------------------------------------------------------- check rules
# Per ratio SLO: 7 error ratios, 4 event counts (the guard's long windows), 8 meta rules and 2 alerts = 21 rules;
# freshness has no event counts but records its instant value: 1 + 7 + 8 + 2 = 18. The whole credit file:
# 7 * 21 + 18 = 165.
@pytest.mark.parametrize(
    ("specs", "count"),
    [pytest.param(SPECS, 165, id="credit")]
    + [pytest.param([s], 18 if s.sli.kind == "freshness" else 21, id=s.name) for s in SPECS],
)
def test_promtool_check_rules(promtool: str, tmp_path: Path, specs: list[SloSpec], count: int) -> None:
    [path] = render_rules(specs, tmp_path)
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, f"promtool check rules {path} failed:\n{output}"
    assert f"SUCCESS: {count} rules found" in output, output


# ------------------------------------------------------------------------------------------------------- scenarios
def test_full_outage_pages_within_a_minute(promtool: str, tmp_path: Path) -> None:
    """a. 10 req/s (600 per minute) of good traffic for 2h, then every request fails.

    In continuous time the 1h ratio passes 0.0144 after 0.0144 * 3600 = 51.8 s of full errors (the 5m ratio at
    once). With 1-minute samples the first sample that holds errors is at t0 + 1m (t0 = 120m, the last clean one):
    - at t0 = 120m no error has been counted: every ratio is 0, nothing fires;
    - at t0 + 1m = 121m: 5m ratio = 600 / (4 * 600 + 600) = 0.2; 1h ratio = 600 / 36000 = 0.0167 > 0.0144;
      events in 1h = 36000 >= 20: the page fires, one evaluation after the outage began, the earliest a
      1-minute scrape allows. (The 6h/30m pair holds too: 600/18000 and 600/72600 > 0.006.)
      The ticket fires as well: 2h ratio = 600 / 72000 = 0.0083 > 0.003 and 1d ratio (data since t=0) =
      600 / 72600 = 0.0083 > 0.003, and a full outage does burn the budget 1000 times too fast.
    The rules file is the whole credit file: the other seven SLOs (without input series) record nothing and do not
    disturb the availability alerts although all share the recording rule names.
    """
    tests = [
        {
            "input_series": requests(per_minute((120, 600), (5, 0)), per_minute((120, 0), (5, 600))),
            "alert_rule_test": [
                alerts(AVAILABILITY, 60),
                alerts(AVAILABILITY, 120),
                alerts(AVAILABILITY, 121, "page", "ticket"),
                alerts(AVAILABILITY, 122, "page", "ticket"),
            ],
            "promql_expr_test": [
                # burn rate over 5m at t0 + 1m: 0.2 / 0.001 = 200 (0.2 = (600/300) / (2400/300 + 600/300), exact).
                value(
                    'slo:current_burn_rate:ratio{sloth_id="credit-availability"}',
                    121,
                    ids(AVAILABILITY, "5m", "slo:current_burn_rate:ratio"),
                    200,
                ),
                # Nothing recorded for SLOs without series: absence, not a ratio of 0.
                nothing('slo:sli_error:ratio_rate5m{sloth_id!="credit-availability"}', 121),
            ],
        }
    ]
    run_promtool_test(promtool, tmp_path, SPECS, tests)


def test_two_percent_of_the_budget_in_an_hour_pages(promtool: str, tmp_path: Path) -> None:
    """b. The page's 1h/5m pair: 14.4 times the budget over one hour.

    At a 30-day period, 14.4x for one hour spends 14.4 * 1h / 720h = 2% of the budget: the SRE Workbook's "2% in an
    hour". The factor is fixed, and our period is 28d = 672h, so here the page needs 14.4 / 672 = 2.14% of the
    budget in an hour; 2% of a 28-day budget in an hour is a burn rate of 0.02 * 672 = 13.44 (an error ratio of
    1.344%), which does NOT page on its own. What pages is a 1h error ratio above 14.4 * 0.001 = 1.44%.

    1000 requests per minute, 6h of clean history (so the 6h window is full), then t0 = 360m:
    - 1.5% errors (15 of 1000 each minute): after k minutes the 1h ratio is 0.015 * k / 60. It passes 0.0144 when
      k > 57.6: at t0 + 57m it is 0.01425 (no page), at t0 + 58m it is 0.0145 (page). The 6h/30m pair never
      holds within the hour: the 6h ratio is at most 0.015 / 6 = 0.0025 < 0.006.
    - 1.4% errors (14 of 1000) for a full hour: 1h ratio 0.014 < 0.0144 and 6h ratio 0.014 / 6 = 0.00233 < 0.006
      (although the 30m ratio, 0.014, is above): no page, although the hour spent 0.014 / (0.001 * 672) = 2.08%
      of the 28-day budget.
    Both burn 14-15x the budget, so the ticket's 6h/3d pair holds from t0 + 26m (1.5%: 6h ratio 15k / 360000 >
    0.001 needs k > 24, and the 3d ratio, data since t=0, 15k / (360000 + 1000k) > 0.001 needs k > 25.7): the
    ticket fires in every step below after t0; it is the page this test is about.
    """
    ratio_1h = f'slo:sli_error:ratio_rate1h{{sloth_id="{AVAILABILITY.id}"}}'
    fast = {
        "input_series": requests(per_minute((360, 1000), (60, 985)), per_minute((360, 0), (60, 15))),
        "alert_rule_test": [
            alerts(AVAILABILITY, 360),
            alerts(AVAILABILITY, 360 + 57, "ticket"),
            alerts(AVAILABILITY, 360 + 58, "page", "ticket"),
            alerts(AVAILABILITY, 360 + 60, "page", "ticket"),
        ],
        "promql_expr_test": [
            # bad events in the 1h window: 57 * 15 = 855 (ratio 0.01425) and 58 * 15 = 870 (ratio 0.0145).
            value(f"round({ratio_1h} * 60000)", 360 + 57, ids(AVAILABILITY, "1h"), 855),
            value(f"round({ratio_1h} * 60000)", 360 + 58, ids(AVAILABILITY, "1h"), 870),
        ],
    }
    slow = {
        "input_series": requests(per_minute((360, 1000), (60, 986)), per_minute((360, 0), (60, 14))),
        "alert_rule_test": [alerts(AVAILABILITY, 360 + 60, "ticket")],
        "promql_expr_test": [
            # 1h: 840 bad of 60000 = 1.4%; 6h: 840 of 360000 = 0.233%.
            value(f"round({ratio_1h} * 60000)", 360 + 60, ids(AVAILABILITY, "1h"), 840),
            value(
                f'round(slo:sli_error:ratio_rate6h{{sloth_id="{AVAILABILITY.id}"}} * 360000)',
                360 + 60,
                ids(AVAILABILITY, "6h"),
                840,
            ),
        ],
    }
    run_promtool_test(promtool, tmp_path, [AVAILABILITY], [fast, slow])


def test_half_the_budget_never_alerts(promtool: str, tmp_path: Path) -> None:
    """c. A steady 0.05% error ratio (1 failure in every 2000 requests, each minute: 1999 good + 1 bad) for
    3d + 1h, so even the 3d window is full.

    Every window's ratio is 1 / 2000 = 0.0005: a burn rate of 0.0005 / 0.001 = 0.5, below every factor (the
    smallest, the ticket's 3d/6h pair, is 1): no page and no ticket at any time. The exact float Prometheus
    computes for the 5m burn rate is 0.5: (5/300) / (9995/300 + 5/300) = 0.0005 and 0.0005 / 0.001 = 0.5. The
    period (28d) burn rate, the mean of the recorded 5m ratios, is 0.5 as well.

    Rules are evaluated every 10 minutes here (three days at 1 minute take promtool 15 s); evaluation times stay on
    the 1-minute sample grid, so the ratios are as exact as at 1 minute.
    """
    minutes = 73 * 60
    burn = f'slo:current_burn_rate:ratio{{sloth_id="{AVAILABILITY.id}"}}'
    tests = [
        {
            "input_series": requests([1999] * minutes, [1] * minutes),
            "alert_rule_test": [alerts(AVAILABILITY, hour * 60) for hour in range(1, 74)],
            "promql_expr_test": [
                *(
                    value(burn, m, ids(AVAILABILITY, "5m", "slo:current_burn_rate:ratio"), 0.5)
                    for m in (60, 1440, minutes)
                ),
                value(
                    f'slo:sli_error:ratio_rate3d{{sloth_id="{AVAILABILITY.id}"}}',
                    minutes,
                    ids(AVAILABILITY, "3d", "slo:sli_error:ratio_rate3d"),
                    0.0005,
                ),
                value(
                    f'slo:period_burn_rate:ratio{{sloth_id="{AVAILABILITY.id}"}}',
                    minutes,
                    ids(AVAILABILITY, "28d", "slo:period_burn_rate:ratio"),
                    0.5,
                ),
            ],
        }
    ]
    run_promtool_test(promtool, tmp_path, [AVAILABILITY], tests, evaluation_interval="10m")


def test_page_resolves_when_the_short_windows_clear(promtool: str, tmp_path: Path) -> None:
    """d. After errors stop, the page resolves once the short window of every page pair holding is clean.

    Short outage: 6h of 600 good requests per minute, then 2 minutes of full outage (minutes 361 and 362; te =
    362m is its last sample), then clean traffic.
    - 361m and 362m..366m: 5m ratio >= 600 / 3000 = 0.2 and 1h ratio >= 600 / 36000 = 0.0167: page.
    - te + 4m = 366m: the 5m window [361m, 366m] still holds minute 362's 600 errors: page.
    - te + 5m = 367m: the 5m window [362m, 367m] holds no error (ratio 0): the 1h/5m pair clears although the 1h
      ratio is 1200 / 36000 = 3.3% (23x the budget). The 6h/30m pair never held: 6h ratio = 1200 / 216000 =
      0.56% < 0.6%. The page resolves at te + 5m.
    The ticket fires throughout (6h: 1200 / 216000 = 0.0056 > 0.001, 3d: data since t=0, 1200 / 220200 > 0.001):
    2 minutes of full outage spend 2 / (0.001 * 40320) = 5% of the 28-day budget.

    Long outage: 2h clean, then 10 minutes of full outage (minutes 121-130, te = 130m). Here the page does NOT
    resolve at te + 5m, although the 1h/5m pair clears then (5m ratio 0, 1h ratio 6000 / 36000 = 1/6): the
    outage also trips the 6h/30m pair (6h ratio, data since t=0: 6000 / 81000 = 7.4% > 0.6%; 30m ratio: 6000 /
    18000 = 33%), which holds until its 30m window is clean: still firing at te + 29m = 159m (the 30m window
    [129m, 159m] holds minute 130's errors: 600 / 18000 = 3.3%), resolved at te + 30m = 160m. The ticket stays
    (2h ratio 6000 / 72000 = 8.3%): ten minutes of full outage spend 10 / 40.32 = 25% of the 28-day budget.
    """
    sid = AVAILABILITY.id
    short = {
        "input_series": requests(per_minute((360, 600), (2, 0), (10, 600)), per_minute((360, 0), (2, 600), (10, 0))),
        "alert_rule_test": [
            alerts(AVAILABILITY, 360),
            alerts(AVAILABILITY, 361, "page", "ticket"),
            alerts(AVAILABILITY, 366, "page", "ticket"),
            alerts(AVAILABILITY, 367, "ticket"),
            alerts(AVAILABILITY, 368, "ticket"),
        ],
        "promql_expr_test": [
            value(
                f'slo:sli_error:ratio_rate5m{{sloth_id="{sid}"}}',
                367,
                ids(AVAILABILITY, "5m", "slo:sli_error:ratio_rate5m"),
                0,
            ),
            # bad events: 1200 of 36000 in 1h (3.3% > 1.44%), 1200 of 216000 in 6h (0.56% < 0.6%).
            value(f'round(slo:sli_error:ratio_rate1h{{sloth_id="{sid}"}} * 36000)', 367, ids(AVAILABILITY, "1h"), 1200),
            value(
                f'round(slo:sli_error:ratio_rate6h{{sloth_id="{sid}"}} * 216000)', 367, ids(AVAILABILITY, "6h"), 1200
            ),
        ],
    }
    long = {
        "input_series": requests(per_minute((120, 600), (10, 0), (40, 600)), per_minute((120, 0), (10, 600), (40, 0))),
        "alert_rule_test": [
            alerts(AVAILABILITY, 121, "page", "ticket"),
            alerts(AVAILABILITY, 134, "page", "ticket"),
            alerts(AVAILABILITY, 135, "page", "ticket"),
            alerts(AVAILABILITY, 159, "page", "ticket"),
            alerts(AVAILABILITY, 160, "ticket"),
        ],
        "promql_expr_test": [
            value(
                f'slo:sli_error:ratio_rate5m{{sloth_id="{sid}"}}',
                135,
                ids(AVAILABILITY, "5m", "slo:sli_error:ratio_rate5m"),
                0,
            ),
            value(f'round(slo:sli_error:ratio_rate1h{{sloth_id="{sid}"}} * 36000)', 135, ids(AVAILABILITY, "1h"), 6000),
            value(
                f'slo:sli_error:ratio_rate30m{{sloth_id="{sid}"}}',
                160,
                ids(AVAILABILITY, "30m", "slo:sli_error:ratio_rate30m"),
                0,
            ),
        ],
    }
    run_promtool_test(promtool, tmp_path, [AVAILABILITY], [short, long])


def _every_ten_minutes(minutes: int, *failures: int) -> tuple[list[int], list[int]]:
    """1 request every 10 minutes (at minutes 10, 20, ...); the ones at ``failures`` fail."""
    good = [1 if m % 10 == 0 and m not in failures else 0 for m in range(1, minutes + 1)]
    bad = [1 if m in failures else 0 for m in range(1, minutes + 1)]
    return good, bad


def test_min_events_guard(promtool: str, tmp_path: Path) -> None:
    """e. One failed request never pages; on low traffic an alert also needs 20 events in its long window.

    - Low traffic, 6 requests per hour (one every 10 minutes, 2h of history), the request at 120m fails. At 120m:
      5m ratio 1/1 = 100%, 1h ratio 1/6 = 16.7% (both far above 1.44%), but the 1h window holds 6 events
      (minutes 70, 80, ..., 120) < 20, and the 6h window (data since t=0) 12 < 20, as do the ticket's 1d and 3d
      windows; and there is one bad event, fewer than min_bad_events = 2: nothing fires, at 120m nor after.
    - The same input with ``min_events: 0`` and ``min_bad_events: 1`` pages (and tickets: 2h and 1d ratios 1/12 >
      0.3%): the guards are what hold the alerts back.
    - 60 requests per hour (one a minute, 2h of history), the ones at 121m and 122m fail. At 121m one bad event (1h
      ratio 1/60 = 1.67% > 1.44%, but 1 < 2 bad): nothing. At 122m the 1h window holds 60 events >= 20 with 2 bad
      (ratio 2/60 = 3.3%, bad = ratio x events = 2 > 1.5), 5m ratio 2/5 = 40%: page; and ticket (2h ratio 2/120 =
      1.67%, 1d ratio 2/122 = 1.64% > 0.3%).
    - The guards are per long window: at 6 requests per hour with 6h of history, failures at 360m and 370m. At 360m
      one bad event: nothing. At 370m the 1h pair stays guarded (6 events), but the 6h window holds 36 events >= 20
      with 2 bad (ratio 2/36 = 5.6% > 0.6%) and the 30m window 3 events with 2 bad (67%): the 6h/30m pair pages.
      The ticket too through 3d/6h (3d window: 37 events since t=0, ratio 2/37 = 5.4% > 0.1%; 6h 5.6%), while the
      1d/2h pair is guarded (2h window: 12 events < 20).
    """
    good, bad = _every_ten_minutes(130, 120)
    quiet = {"input_series": requests(good, bad), "alert_rule_test": [alerts(AVAILABILITY, m) for m in range(118, 131)]}
    run_promtool_test(promtool, tmp_path / "guarded", [AVAILABILITY], [quiet])

    unguarded = AVAILABILITY.model_copy(update={"alerting": Alerting(min_events=0, min_bad_events=1)})
    loud = {"input_series": requests(good, bad), "alert_rule_test": [alerts(unguarded, 120, "page", "ticket")]}
    run_promtool_test(promtool, tmp_path / "unguarded", [unguarded], [loud])

    busy = {
        "input_series": requests(per_minute((120, 1), (2, 0), (5, 1)), per_minute((120, 0), (2, 1), (5, 0))),
        "alert_rule_test": [alerts(AVAILABILITY, 121), alerts(AVAILABILITY, 122, "page", "ticket")],
        "promql_expr_test": [
            value(
                f'slo:sli_events:increase1h{{sloth_id="{AVAILABILITY.id}"}}',
                122,
                ids(AVAILABILITY, "1h", "slo:sli_events:increase1h"),
                60,
            )
        ],
    }
    good, bad = _every_ten_minutes(375, 360, 370)
    long_history = {
        "input_series": requests(good, bad),
        "alert_rule_test": [alerts(AVAILABILITY, 360), alerts(AVAILABILITY, 370, "page", "ticket")],
        "promql_expr_test": [
            value(
                f'slo:sli_events:increase1h{{sloth_id="{AVAILABILITY.id}"}}',
                370,
                ids(AVAILABILITY, "1h", "slo:sli_events:increase1h"),
                6,
            ),
            value(
                f'slo:sli_events:increase6h{{sloth_id="{AVAILABILITY.id}"}}',
                370,
                ids(AVAILABILITY, "6h", "slo:sli_events:increase6h"),
                36,
            ),
        ],
    }
    run_promtool_test(promtool, tmp_path / "busy", [AVAILABILITY], [busy, long_history])


def test_slow_requests_page(promtool: str, tmp_path: Path) -> None:
    """f. Latency, objective 99% (budget 0.01; page above 0.144 over 1h and 5m or 0.06 over 6h and 30m; ticket
    above 0.03 over 1d and 2h or 0.01 over 3d and 6h).

    600 requests per minute for 6h, all within 0.25 s (they land in the le="0.25" bucket), then t0 = 360m and
    every request takes 0.5 s (only le="+Inf" and the count rise). After k slow minutes:
    - 1h ratio k/60 > 0.144 needs k >= 9 (8/60 = 0.133, 9/60 = 0.15); 5m ratio is 1: the page fires at t0 + 9m.
      The 6h/30m pair would need 6h ratio k/360 > 0.06, k >= 22.
    - The ticket fires first, at t0 + 4m: 6h ratio 4/360 = 0.011 > 0.01 and 3d ratio (data since t=0) 4/364 =
      0.011 > 0.01 (at k = 3: 3/360 = 0.0083).
    """

    def duration(suffix: str, le: str, increments: Sequence[float]) -> dict[str, str]:
        return {"series": DURATION.format(suffix=suffix, le=f',le="{le}"' if le else ""), "values": counter(increments)}

    fast = per_minute((360, 600), (10, 0))
    every = per_minute((370, 600))
    tests = [
        {
            "input_series": [
                duration("_bucket", "0.25", fast),
                duration("_bucket", "+Inf", every),
                duration("_count", "", every),
                duration("_sum", "", [60.0] * 360 + [300.0] * 10),  # 600 * 0.1 s, then 600 * 0.5 s
            ],
            "alert_rule_test": [
                alerts(LATENCY, 360),
                alerts(LATENCY, 363),
                alerts(LATENCY, 364, "ticket"),
                alerts(LATENCY, 368, "ticket"),
                alerts(LATENCY, 369, "page", "ticket"),
                alerts(LATENCY, 370, "page", "ticket"),
            ],
            "promql_expr_test": [
                # slow requests in the 1h window: 8 * 600 and 9 * 600 of 36000.
                value(
                    f'round(slo:sli_error:ratio_rate1h{{sloth_id="{LATENCY.id}"}} * 36000)',
                    368,
                    ids(LATENCY, "1h"),
                    4800,
                ),
                value(
                    f'round(slo:sli_error:ratio_rate1h{{sloth_id="{LATENCY.id}"}} * 36000)',
                    369,
                    ids(LATENCY, "1h"),
                    5400,
                ),
            ],
        }
    ]
    run_promtool_test(promtool, tmp_path, [LATENCY], tests)


def test_stale_events_page(promtool: str, tmp_path: Path) -> None:
    """g. Freshness, objective 99% (budget 0.01, same thresholds as latency above), max age 300 s.

    The gauge holds the time of the model's newest event; it tracks the clock (value = sample time in seconds) for
    6h, so that the 6h window is full, then stops advancing at 21600 s (t0 = 360m) while still being exported.

    The rules record ``time() - max(gauge) > bool 300`` at every evaluation (each minute, when the gauge's newest
    sample is the one at t) and average it over each window (module docstring: 6 samples in 5m, 31 in 30m, 61 in 1h,
    121 in 2h, 361 in 6h; the 1d and 3d windows reach back before t=0 and hold the t + 1 samples since t=0). The
    instant value at minute m is 1 once m * 60 - 21600 > 300: at 365m the age is 300 s (not more: 0), from 366m on
    it is 1. At t = 365m + c, the c samples of minutes 366..t are bad:
    - page 1h/5m: 1h ratio c/61 > 0.144 needs c >= 9 (8.78): at 374m 9/61 = 0.148 fires; at 373m 8/61 = 0.131
      does not. The 5m ratio is 6/6 = 1 by then (c/6 > 0.144 from c = 1). The 6h/30m pair needs c/361 > 0.06,
      c >= 22 (387m).
    - ticket 3d/6h: 6h ratio c/361 > 0.01 and 3d ratio c/(366 + c) > 0.01 both need c >= 4 (3.61 and 3.70): at
      369m 4/361 = 0.0111 and 4/370 = 0.0108 fire; at 368m 3/361 = 0.0083 and 3/369 = 0.0081 do not. (1d/2h needs
      c/(366 + c) > 0.03, c >= 12: 377m.)
    So with a 5-minute max age the ticket opens 9 minutes and the page 14 minutes after the last event.
    """
    sid = FRESHNESS.id
    instant = f'slo:sli_error:ratio_instant{{sloth_id="{sid}"}}'
    tests = [
        {
            "input_series": [{"series": LAST_EVENT, "values": "0+60x360 21600+0x20"}],
            "alert_rule_test": [
                alerts(FRESHNESS, 360),
                alerts(FRESHNESS, 365),
                alerts(FRESHNESS, 368),
                alerts(FRESHNESS, 369, "ticket"),
                alerts(FRESHNESS, 373, "ticket"),
                alerts(FRESHNESS, 374, "page", "ticket"),
                alerts(FRESHNESS, 380, "page", "ticket"),
            ],
            "promql_expr_test": [
                # The instant value: age 300 s at 365m (not stale), 360 s at 366m (stale).
                value(instant, 365, ids(FRESHNESS, name="slo:sli_error:ratio_instant"), 0),
                value(instant, 366, ids(FRESHNESS, name="slo:sli_error:ratio_instant"), 1),
                # The windows hold one instant sample per minute, both ends included: 61 in 1h, 370 in 3d at 369m.
                value(f"count_over_time({instant}[1h])", 374, ids(FRESHNESS), 61),
                value(f"count_over_time({instant}[3d])", 369, ids(FRESHNESS), 370),
                # Bad samples in the windows: 8 and 9 of 61 in 1h; 3 and 4 of 361 in 6h; 4 of 370 in 3d.
                value(f'round(slo:sli_error:ratio_rate1h{{sloth_id="{sid}"}} * 61)', 373, ids(FRESHNESS, "1h"), 8),
                value(f'round(slo:sli_error:ratio_rate1h{{sloth_id="{sid}"}} * 61)', 374, ids(FRESHNESS, "1h"), 9),
                value(f'round(slo:sli_error:ratio_rate6h{{sloth_id="{sid}"}} * 361)', 368, ids(FRESHNESS, "6h"), 3),
                value(f'round(slo:sli_error:ratio_rate6h{{sloth_id="{sid}"}} * 361)', 369, ids(FRESHNESS, "6h"), 4),
                value(f'round(slo:sli_error:ratio_rate3d{{sloth_id="{sid}"}} * 370)', 369, ids(FRESHNESS, "3d"), 4),
                value(
                    f'slo:sli_error:ratio_rate5m{{sloth_id="{sid}"}}',
                    374,
                    ids(FRESHNESS, "5m", "slo:sli_error:ratio_rate5m"),
                    1,
                ),
                value(
                    f'slo:sli_error:ratio_rate5m{{sloth_id="{sid}"}}',
                    365,
                    ids(FRESHNESS, "5m", "slo:sli_error:ratio_rate5m"),
                    0,
                ),
            ],
        }
    ]
    run_promtool_test(promtool, tmp_path, [FRESHNESS], tests)


def test_freshness_without_the_gauge_has_no_data(promtool: str, tmp_path: Path) -> None:
    """The documented limitation: when the gauge stops being exported (the monitor is gone), Prometheus has no
    sample of it 5 minutes (the lookback) after the last scrape, so no instant value is recorded from then on, the
    5m window soon holds none and the freshness SLI records no 5m ratio: it cannot page. The longer windows only hold
    the fresh instant samples from before (ratio 0). Staleness of the exporter itself needs an ``absent()``/``up``
    alert.

    Here the gauge tracks the clock until 240m and then disappears. Its sample at 240m is seen through 245m (the
    lookback ``[t - 5m, t]`` includes both ends), where the age is 300 s, not more: the instant value is recorded
    as 0 until 245m and not at all from 246m. The 5m window ``[t - 5m, t]`` holds the sample of 245m until t = 250m:
    a 5m ratio of 0 at 250m, none at 251m; the 1h ratio is 0 until 305m and absent at 306m. Nothing fires, neither
    while the gauge is there nor after.
    """
    sid = FRESHNESS.id
    instant = f'slo:sli_error:ratio_instant{{sloth_id="{sid}"}}'
    ratio_5m = f'slo:sli_error:ratio_rate5m{{sloth_id="{sid}"}}'
    ratio_1h = f'slo:sli_error:ratio_rate1h{{sloth_id="{sid}"}}'
    tests = [
        {
            "input_series": [{"series": LAST_EVENT, "values": "0+60x240"}],
            "alert_rule_test": [alerts(FRESHNESS, m) for m in (240, 245, 246, 250, 251, 270, 305, 306)],
            "promql_expr_test": [
                value(instant, 245, ids(FRESHNESS, name="slo:sli_error:ratio_instant"), 0),
                nothing(instant, 246),
                value(ratio_5m, 250, ids(FRESHNESS, "5m", "slo:sli_error:ratio_rate5m"), 0),
                nothing(ratio_5m, 251),
                nothing(ratio_5m, 270),
                value(ratio_1h, 270, ids(FRESHNESS, "1h", "slo:sli_error:ratio_rate1h"), 0),
                value(ratio_1h, 305, ids(FRESHNESS, "1h", "slo:sli_error:ratio_rate1h"), 0),
                nothing(ratio_1h, 306),
            ],
        }
    ]
    run_promtool_test(promtool, tmp_path, [FRESHNESS], tests)


def test_quiet_minutes_and_missing_error_series(promtool: str, tmp_path: Path) -> None:
    """Windows without events record no ratio rather than 0/0 = NaN, and a 5xx series that does not exist yet
    counts as no errors.

    - 1h of clean traffic, 10 minutes without any request (minutes 61-70), then clean traffic again: at 70m the 5m
      window holds no request, so there is no 5m ratio; a NaN there would make the period ratio (the mean of the
      recorded 5m ratios over 28d) NaN for the whole period. At 129m no request has failed: period burn rate 0.
    - Only ``code="200"`` is exported (prometheus_client creates a labelled child on its first increment, so a
      model that never failed has no 5xx series): the ratio is 0, not absent.
    """
    sid = AVAILABILITY.id
    ratio_5m = f'slo:sli_error:ratio_rate5m{{sloth_id="{sid}"}}'
    quiet = {
        "input_series": requests(per_minute((60, 600), (10, 0), (60, 600)), [0] * 130),
        "promql_expr_test": [
            nothing(ratio_5m, 70),
            value(ratio_5m, 80, ids(AVAILABILITY, "5m", "slo:sli_error:ratio_rate5m"), 0),
            value(
                f'slo:period_burn_rate:ratio{{sloth_id="{sid}"}}',
                129,
                ids(AVAILABILITY, "28d", "slo:period_burn_rate:ratio"),
                0,
            ),
        ],
    }
    never_failed = {
        "input_series": requests([600] * 30, [0] * 30)[:1],
        "alert_rule_test": [alerts(AVAILABILITY, 30)],
        "promql_expr_test": [value(ratio_5m, 30, ids(AVAILABILITY, "5m", "slo:sli_error:ratio_rate5m"), 0)],
    }
    run_promtool_test(promtool, tmp_path, [AVAILABILITY], [quiet, never_failed])
