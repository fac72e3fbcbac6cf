"""Remediation decisions, pure: signals in, decisions out, with the policy's guards applied.

:func:`signal_of` turns the bus's alarm and SLO-alert events into :class:`Signal` values. A :class:`Remediator`
remembers which alarms are active (and since which window), which rules acted when, and how many actions each model
had in the last hour; :meth:`Remediator.decide` returns the :class:`Decision` values a signal calls for. Every
decision carries its evidence (the policy's name and version, the rule, the signal and its id), whether it is a dry
run, and, when a guard held it back, why: decisions that are not acted on are recorded too.

Example:
    >>> from modelpilot.control.policy import parse_policy
    >>> policy = parse_policy('''
    ... rules:
    ...   - {name: page-rollback, when: {slo_burn: {severity: page}}, do: [rollback]}
    ... ''')
    >>> r = Remediator(policy)
    >>> alert = {"slo": "credit-availability", "model": "credit", "severity": "page", "state": "firing",
    ...          "since": 100.0, "source": "modelpilot"}
    >>> [(d.action, d.rule, d.held) for d in r.decide(slo_signal(alert, "slo/credit-availability/page"), now=100.0)]
    [('rollback', 'page-rollback', None)]
    >>> [(d.action, d.held) for d in r.decide(slo_signal(alert, "slo/credit-availability/page/2"), now=200.0)]
    [('rollback', 'cooldown of rule page-rollback (15m) for credit')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelpilot.control.policy import AlarmCondition, Policy, Rule, SloCondition
from modelpilot.events.model import AlarmEvent, SloAlertEvent

__all__ = ["Decision", "Remediator", "Signal", "alarm_signal", "signal_of", "slo_signal"]

_ALARM_RANK = {"warning": 1, "critical": 2}
_SLO_RANK = {"ticket": 1, "page": 2}


@dataclass(frozen=True, slots=True)
class Signal:
    """One alarm or alert transition, as the policy reads it."""

    id: str
    kind: str  # drift, quality, performance, change, slo_burn
    model: str
    active: bool
    severity: str | None
    version: int | None = None
    variant: str | None = None
    window: int | None = None
    slo: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)


def alarm_signal(alarm: Mapping[str, Any], ident: str) -> Signal:
    """A monitor alarm transition (``AlarmEvent.alarm``)."""
    active = alarm.get("transition") != "resolved" and alarm.get("severity") is not None
    return Signal(
        id=ident,
        kind=str(alarm.get("kind")),
        model=str(alarm.get("model")),
        active=active,
        severity=alarm.get("severity") if active else None,
        version=None if alarm.get("version") is None else int(alarm["version"]),
        variant=alarm.get("variant"),
        window=None if alarm.get("window") is None else int(alarm["window"]),
        evidence=dict(alarm),
    )


def slo_signal(alert: Mapping[str, Any], ident: str) -> Signal:
    """An SLO alert transition (``SloAlertEvent.alert``)."""
    active = alert.get("state") == "firing"
    return Signal(
        id=ident,
        kind="slo_burn",
        model=str(alert.get("model")),
        active=active,
        severity=alert.get("severity") if active else None,
        slo=alert.get("slo"),
        evidence=dict(alert),
    )


def signal_of(event: AlarmEvent | SloAlertEvent) -> Signal:
    """The signal of a bus event."""
    if isinstance(event, AlarmEvent):
        return alarm_signal(event.alarm, event.request_id)
    return slo_signal(event.alert, event.request_id)


@dataclass(frozen=True, slots=True)
class Decision:
    """An action a rule calls for; ``held`` says why it is not carried out (``None``: act)."""

    action: str
    rule: str
    model: str
    signal: Signal
    dry_run: bool
    held: str | None
    evidence: Mapping[str, Any]


SEEN_MAX = 100_000


class Remediator:
    """Applies a policy to signals, with memory of active alarms, cooldowns and the hourly action budget."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._raised: dict[tuple[str, int | None, str | None, str], int | None] = {}  # active alarm -> its window
        self._first_at: dict[tuple[str, int | None, str | None, str], float] = {}  # active signal -> first seen
        self._last_acted: dict[tuple[str, str], float] = {}  # (rule, model) -> when it last acted
        self._actions: dict[str, list[float]] = {}  # model -> times of actions taken
        self._seen: dict[str, None] = {}  # signal ids decided, oldest first (bounded: SEEN_MAX)
        self._remembered: set[int] = set()  # stored decisions taken back (or made here), by id
        self._last_retrain: dict[str, float] = {}  # model -> when a retraining last started (any rule)

    def decide(self, signal: Signal, *, now: float) -> list[Decision]:
        """The decisions ``signal`` calls for (an id seen before calls for none: redelivery is harmless)."""
        if signal.id in self._seen:
            return []
        self._see(signal.id)
        windows = self._track(signal)
        out: list[Decision] = []
        for rule in self.policy.rules:
            if not self._matches(rule, signal, windows):
                continue
            held = self._guard(rule, signal.model, now)
            for action in rule.do:
                why = held if held is not None or action != "retrain" else self._retrain_guard(rule, signal.model, now)
                out.append(self._decision(rule, action, signal, why, windows))
                if why is None and action == "retrain" and not self.policy.dry_run:
                    self._last_retrain[signal.model] = now
            if held is None and not self.policy.dry_run:
                self._last_acted[(rule.name, signal.model)] = now
                self._actions.setdefault(signal.model, []).extend(now for a in rule.do if a != "require_approval")
        return out

    def _see(self, ident: str) -> None:
        self._seen[ident] = None
        if len(self._seen) > SEEN_MAX:  # a lasting alarm is announced every window: forget the oldest ids
            del self._seen[next(iter(self._seen))]

    def made(self, ident: int) -> None:
        """The stored decision ``ident`` came from this remediator: :meth:`remember` must not count it again."""
        self._remembered.add(ident)

    def remember(self, past: Iterable[tuple[int, str, str, str, str, float]], *, now: float) -> int:
        """Take back what controllers decided: ``(id, model, rule, action, signal id, when)`` of stored decisions,
        so a restart or a new leader keeps the cooldowns, the hourly budget and the retraining cooldown, and a
        redelivered signal calls for nothing. A decision already known is skipped. Returns how many were taken."""
        rules = {r.name for r in self.policy.rules}
        taken = 0
        for ident, model, rule, action, signal_id, when in past:
            if rule not in rules or ident in self._remembered:
                continue
            self._remembered.add(ident)
            taken += 1
            self._see(signal_id)
            key = (rule, model)
            self._last_acted[key] = max(self._last_acted.get(key, when), when)
            if now - when < 3600.0:
                self._actions.setdefault(model, []).append(when)
            if action == "retrain":
                self._last_retrain[model] = max(self._last_retrain.get(model, when), when)
        return taken

    def first_seen(self, s: Signal) -> float | None:
        """When the signal's episode began: the alarm's first active transition, or the SLO alert's start."""
        return self._first_at.get(self._key(s))

    @staticmethod
    def _key(s: Signal) -> tuple[str, int | None, str | None, str]:
        return (s.model, s.version, s.slo if s.kind == "slo_burn" else s.variant, s.kind)

    def _track(self, s: Signal) -> int:
        """How many windows the alarm has been active (SLO alerts: 1 while firing)."""
        key = self._key(s)
        if s.active:
            start = s.evidence.get("since") if s.kind == "slo_burn" else s.evidence.get("time")
            self._first_at.setdefault(key, float(start) if isinstance(start, int | float) else 0.0)
        else:
            self._first_at.pop(key, None)
        if s.kind == "slo_burn":
            return 1 if s.active else 0
        if not s.active:
            self._raised.pop(key, None)
            return 0
        inner = s.evidence.get("evidence")
        since = (
            inner.get("since_window") if s.evidence.get("transition") == "held" and isinstance(inner, dict) else None
        )
        # a held alarm says when its episode began: a restarted controller counts from there, not from now
        first = self._raised.setdefault(key, int(since) if isinstance(since, int) else s.window)
        if first is None or s.window is None:
            return 1
        return s.window - first + 1

    def _matches(self, rule: Rule, s: Signal, windows: int) -> bool:
        if not s.active or rule.condition_kind != s.kind or rule.model not in ("*", s.model):
            return False
        cond = getattr(rule.when, rule.condition_kind)
        if isinstance(cond, SloCondition):
            return _SLO_RANK.get(s.severity or "", 0) >= _SLO_RANK[cond.severity] and cond.slo in (None, s.slo)
        assert isinstance(cond, AlarmCondition)
        if s.evidence.get("transition") == "held" and windows != cond.windows:
            # An unchanged alarm is announced in every window: it calls for the rule once, in the window its count
            # reaches the rule's; after that only a real transition (escalated, changed) asks again.
            return False
        return _ALARM_RANK.get(s.severity or "", 0) >= _ALARM_RANK[cond.severity] and windows >= cond.windows

    def _guard(self, rule: Rule, model: str, now: float) -> str | None:
        last = self._last_acted.get((rule.name, model))
        if last is not None and now - last < rule.cooldown_s:
            return f"cooldown of rule {rule.name} ({rule.cooldown}) for {model}"
        recent = [t for t in self._actions.get(model, []) if now - t < 3600.0]
        self._actions[model] = recent
        planned = sum(1 for a in rule.do if a != "require_approval")
        if len(recent) + planned > self.policy.max_actions_per_hour:
            return f"{model} had {len(recent)} action(s) in the last hour (at most {self.policy.max_actions_per_hour})"
        return None

    def _retrain_guard(self, rule: Rule, model: str, now: float) -> str | None:
        last = self._last_retrain.get(model)
        if rule.retrain is not None and last is not None and now - last < rule.retrain.cooldown_s:
            return f"{model} was sent to retraining {now - last:.0f} s ago (cooldown {rule.retrain.cooldown})"
        return None

    def _decision(self, rule: Rule, action: str, s: Signal, held: str | None, windows: int) -> Decision:
        evidence = {
            "policy": {"name": self.policy.name, "version": self.policy.version},
            "rule": rule.name,
            "condition": rule.when.model_dump(mode="json", exclude_none=True),
            "signal": {"id": s.id, "kind": s.kind, "severity": s.severity, "windows": windows, **dict(s.evidence)},
            "first_signal_at": self._first_at.get(self._key(s)),
            "needs_approval": "require_approval" in rule.do and action != "require_approval",
        }
        return Decision(action, rule.name, s.model, s, self.policy.dry_run, held, evidence)
