"""Remediation policies: files validated by line and field; decisions follow conditions, and the guards (dry run,
cooldown, actions per hour, redelivery) hold them back with a reason."""

from __future__ import annotations

from typing import Any

import pytest

from modelpilot.control.policy import parse_policy
from modelpilot.control.remediation import Remediator, alarm_signal, signal_of, slo_signal
from modelpilot.errors import ConfigError
from modelpilot.events import AlarmEvent, SloAlertEvent

POLICY = """\
name: credit-policy
version: 3
max_actions_per_hour: 2
rules:
  - name: lasting-drift
    model: credit
    when: {drift: {severity: critical, windows: 2}}
    do: [fallback]
  - name: page
    when: {slo_burn: {severity: page}}
    do: [rollback, notify]
    notify: {url: "http://127.0.0.1:9/hook"}
    cooldown: 30m
"""


def drift(window: int, transition: str = "raised", severity: str | None = "critical", model: str = "credit") -> Any:
    alarm = {"model": model, "version": 2, "variant": "stable", "kind": "drift", "transition": transition,
             "severity": severity, "subjects": {"income": "critical"}, "window": window, "time": 0.0}  # fmt: skip
    return signal_of(AlarmEvent(alarm, 0.0))


def page(n: int, severity: str = "page", model: str = "credit") -> Any:
    alert = {"slo": f"{model}-availability", "model": model, "severity": severity, "state": "firing",
             "since": float(n), "source": "modelpilot"}  # fmt: skip
    return signal_of(SloAlertEvent(alert, float(n)))


def test_a_drift_alarm_acts_once_it_lasted_the_windows_the_rule_asks_for() -> None:
    r = Remediator(parse_policy(POLICY))
    assert r.decide(drift(5), now=0.0) == []  # one window so far
    [d] = r.decide(drift(6, "changed"), now=60.0)
    assert (d.action, d.rule, d.held, d.dry_run) == ("fallback", "lasting-drift", None, False)
    assert d.evidence["policy"] == {"name": "credit-policy", "version": 3}
    assert d.evidence["signal"]["windows"] == 2 and d.evidence["signal"]["subjects"] == {"income": "critical"}
    assert r.decide(drift(7, "resolved", None), now=120.0) == []
    assert r.decide(drift(9), now=180.0) == []  # raised again: the count starts over
    assert r.decide(drift(6, model="fraud"), now=0.0) == []  # the rule is about credit only


def test_slo_pages_roll_back_and_notify_then_the_cooldown_and_the_hourly_budget_hold() -> None:
    r = Remediator(parse_policy(POLICY))
    first = r.decide(page(1), now=0.0)
    assert [(d.action, d.held) for d in first] == [("rollback", None), ("notify", None)]
    held = r.decide(page(2), now=600.0)
    assert {d.held for d in held} == {"cooldown of rule page (30m) for credit"}
    later = r.decide(page(3), now=1900.0)  # past the cooldown, but 2 actions already this hour
    assert {d.held for d in later} == {"credit had 2 action(s) in the last hour (at most 2)"}
    assert [d.held for d in r.decide(page(4), now=3700.0)] == [None, None]  # an hour on
    assert r.decide(page(4), now=3800.0) == []  # the same signal again (redelivery): nothing
    assert r.decide(page(5, severity="ticket"), now=9000.0) == []  # the rule wants a page


def test_dry_run_decides_and_records_without_spending_guards() -> None:
    r = Remediator(parse_policy("dry_run: true\n" + POLICY))
    for n in range(3):
        decisions = r.decide(page(n), now=float(n))
        assert [(d.action, d.dry_run, d.held) for d in decisions] == [("rollback", True, None), ("notify", True, None)]


def test_signals_from_plain_alarm_and_alert_mappings() -> None:
    s = alarm_signal({"model": "m", "kind": "quality", "transition": "escalated", "severity": "critical"}, "a1")
    assert (s.kind, s.active, s.severity) == ("quality", True, "critical")
    t = slo_signal({"model": "m", "slo": "m-x", "state": "resolved", "severity": "page"}, "s1")
    assert (t.kind, t.active, t.severity) == ("slo_burn", False, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules:\n  - name: a\n    when: {drfit: {}}\n    do: [rollback]\n", "p.yaml:3: rules[0].when.drfit"),
        ("rules:\n  - name: a\n    when: {drift: {}, quality: {}}\n    do: [rollback]\n", "exactly one condition"),
        ("rules:\n  - name: a\n    when: {drift: {}}\n    do: [reboot]\n", "p.yaml:4: rules[0].do[0]"),
        ("rules:\n  - name: a\n    when: {drift: {}}\n    do: [notify]\n", "needs a `notify:` section"),
        ("rules:\n  - name: a\n    when: {drift: {}}\n    do: [require_approval]\n", "gates other actions"),
        ("rules:\n  - name: a\n    when: {drift: {windows: 0}}\n    do: [rollback]\n", "rules[0].when.drift.windows"),
        ("rules:\n  - name: a\n    when: {drift: {}}\n    do: [rollback]\n    cooldown: soon\n", "not a duration"),
        (
            "rules:\n  - {name: a, when: {drift: {}}, do: [fallback]}\n"
            "  - {name: a, when: {drift: {}}, do: [freeze]}\n",
            "rule names used twice: a",
        ),
        ("rules: []\n", "rules"),
        ("[]\n", "expected a mapping"),
    ],
)
def test_bad_policies_name_the_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy(text, source="p.yaml")
    assert expected in info.value.message, info.value.message


def test_retraining_has_its_own_cooldown_across_rules() -> None:
    policy = parse_policy(
        "rules:\n"
        "  - {name: a, when: {slo_burn: {severity: page}}, do: [retrain], cooldown: 1m,"
        " retrain: {command: [echo], cooldown: 24h}}\n"
        "  - {name: b, when: {drift: {}}, do: [retrain, notify], cooldown: 1m,"
        " retrain: {command: [echo], cooldown: 24h}, notify: {url: 'http://127.0.0.1:9/x'}}\n"
    )
    r = Remediator(policy)
    assert [d.held for d in r.decide(page(1), now=0.0)] == [None]
    held = r.decide(drift(3), now=100.0)  # another rule, another signal: the notify goes, the retrain waits
    assert [(d.action, d.held is None) for d in held] == [("retrain", False), ("notify", True)]
    assert "cooldown 24h" in (held[0].held or "")
    assert [d.held for d in r.decide(page(2), now=90_000.0)] == [None]  # a day later


def test_a_held_alarm_counts_from_its_episode_start_so_a_restart_does_not_act_again() -> None:
    """A restarted controller first hears of a lasting alarm through a `held` announcement: it counts the windows
    from the episode's first window (in the announcement), so a `windows: 2` rule that already acted is not called
    again, and one with a longer count still fires in the right window."""
    policy = parse_policy(
        "rules:\n  - {name: two, model: credit, when: {drift: {severity: critical, windows: 2}}, do: [freeze]}\n"
        "  - {name: five, model: credit, when: {drift: {severity: critical, windows: 5}}, do: [notify],"
        " notify: {url: 'http://127.0.0.1:9/hook'}}\n"
    )

    def held(window: int) -> Any:
        alarm = {"model": "credit", "version": 2, "variant": "stable", "kind": "drift", "transition": "held",
                 "severity": "critical", "subjects": {}, "window": window, "time": 0.0,
                 "evidence": {"held": "still active", "since_window": 5}}  # fmt: skip
        return signal_of(AlarmEvent(alarm, 0.0))

    restarted = Remediator(policy)  # raised at window 5; it acted at window 6 before the restart
    assert restarted.decide(held(7), now=0.0) == []  # third window: `two` is past its count, `five` not there yet
    assert restarted.decide(held(8), now=0.0) == []
    [d] = restarted.decide(held(9), now=0.0)  # the fifth window of the episode
    assert (d.rule, d.action) == ("five", "notify")
