"""SLO specs: valid files load; every bad field is named by line and field, and nothing is half-applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelpilot.errors import ConfigError, InvalidInputError
from modelpilot.slo.spec import ALERT_NAMES, SLI_KINDS, load_specs, parse_duration, parse_specs
from modelpilot.telemetry.metrics import LATENCY_BUCKETS, PERFORMANCE_BUCKETS

GOOD = """\
slos:
  - name: availability
    model: credit
    sli: {kind: availability}
    objective: 99.9
    period: 28d
  - name: fast
    model: credit
    sli: {kind: latency, threshold_s: 0.25}
    objective: 99
  - name: accurate
    model: credit
    sli: {kind: accuracy, metric: roc_auc, target: 0.7}
    objective: 95
    alerting: {min_events: 5, labels: {team: risk}}
"""


def test_a_valid_file_loads_with_defaults_filled_in() -> None:
    specs = parse_specs(
        GOOD, models={"credit"}, latency_buckets=LATENCY_BUCKETS, performance_buckets=PERFORMANCE_BUCKETS
    )
    assert [s.id for s in specs] == ["credit-availability", "credit-fast", "credit-accurate"]
    assert specs[0].error_budget == pytest.approx(0.001)
    assert specs[1].period == "28d" and specs[1].variants == ("stable", "canary", "fallback")
    assert specs[2].sli.performance_metric == "roc_auc" and specs[2].alerting.labels == {"team": "risk"}
    assert specs[0].alert_name == "ModelAvailabilityBudgetBurn"
    assert specs[2].runbook_url == "docs/runbooks/accuracy.md"


def test_every_sli_kind_has_an_alert_name_and_a_runbook_page() -> None:
    assert set(ALERT_NAMES) == set(SLI_KINDS)
    runbooks = Path(__file__).parents[2] / "docs" / "runbooks"
    for kind in SLI_KINDS:
        page = runbooks / f"{kind.replace('_', '-')}.md"
        assert page.is_file(), f"no runbook {page}"
        assert ALERT_NAMES[kind] in page.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "slos:\n  - name: a\n    model: credit\n    sli: {kind: availabilty}\n    objective: 99\n",
            ":4: slos[0].sli.kind",
        ),
        (
            "slos:\n  - name: a\n    model: credit\n    sli: {kind: availability}\n    objective: 100\n",
            ":5: slos[0].objective",
        ),
        (
            "slos:\n  - name: a\n    model: credit\n    sli: {kind: availability}\n    objective: 0\n",
            "strictly between 0 and 100",
        ),
        ("slos:\n  - name: a\n    model: credit\n    sli: {kind: latency}\n    objective: 99\n", "needs threshold_s"),
        (
            "slos:\n  - name: a\n    model: credit\n    sli: {kind: availability, target: 0.9}\n    objective: 99\n",
            "target does not apply",
        ),
        (
            "slos:\n  - name: a\n    model: credit\n"
            "    sli: {kind: accuracy, target: 0.8, metric: rmse}\n    objective: 99\n",
            "rmse",
        ),
        (
            "slos:\n  - name: A b\n    model: credit\n    sli: {kind: availability}\n    objective: 99\n",
            ":2: slos[0].name",
        ),
        (
            "slos:\n  - name: a\n    model: credit\n    sli: {kind: availability}\n    objective: 99\n    period: 1d\n",
            ":6: slos[0].period",
        ),
        (
            "slos:\n  - name: a\n    model: credit\n    sli: {kind: availability}\n    objective: 99\n"
            "    period: 4 weeks\n",
            "not a duration",
        ),
        (
            "slos:\n  - name: a\n    model: credit\n    sli: {kind: availability}\n    objective: 99\n    color: red\n",
            ":6: slos[0].color",
        ),
        ("slos: []\n", "slos"),
        ("- just a list\n", "expected a mapping"),
        ("slos: [\n", "not valid YAML"),
    ],
)
def test_bad_specs_name_the_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_specs(text, source="f.yaml")
    assert expected in info.value.message
    assert info.value.hint


def test_unknown_models_uncovered_buckets_and_duplicates_are_all_listed_at_once() -> None:
    text = """\
slos:
  - name: a
    model: fraud
    sli: {kind: availability}
    objective: 99
  - name: slow
    model: credit
    sli: {kind: latency, threshold_s: 0.3}
    objective: 99
  - name: acc
    model: credit
    sli: {kind: estimated_accuracy, target: 0.83}
    objective: 99
  - name: acc
    model: credit
    sli: {kind: availability}
    objective: 99
"""
    with pytest.raises(ConfigError) as info:
        parse_specs(
            text,
            source="f.yaml",
            models={"credit"},
            latency_buckets=LATENCY_BUCKETS,
            performance_buckets=PERFORMANCE_BUCKETS,
        )
    problems = info.value.details["problems"]
    assert len(problems) == 4
    assert any("f.yaml:3: slos[0].model: 'fraud' is not registered (registered: credit)" in p for p in problems)
    assert any("f.yaml:8: slos[1].sli.threshold_s" in p and "0.25, 0.5" in p for p in problems)
    assert any("f.yaml:12: slos[2].sli.target" in p and "0.8, 0.85" in p for p in problems)
    assert any("slos[3].name: 'acc' is used twice" in p for p in problems)


def test_load_specs_reads_files_and_refuses_an_id_in_two_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(GOOD, encoding="utf-8")
    b.write_text(GOOD.split("  - name: fast")[0], encoding="utf-8")
    assert len(load_specs(a)) == 3
    with pytest.raises(InvalidInputError, match="credit-availability"):
        load_specs([a, b])
    with pytest.raises(ConfigError, match="cannot be read"):
        load_specs(tmp_path / "missing.yaml")


def test_durations() -> None:
    assert parse_duration("30s") == 30 and parse_duration("2w") == 14 * 86400
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("5 minutes")
