"""The remediation controller: alarm and SLO-alert events from the bus, decided by the policy, carried out by the
:class:`~modelpilot.control.actions.Actuator`, each decision and its outcome an audit entry (``remediation.<action>``).

Events are handed to a worker thread, so a slow webhook or retraining command never holds up the event bus.
"""

from __future__ import annotations

import logging
import queue
import threading
import time as _time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from modelpilot.audit import AuditLog
from modelpilot.control.actions import Actuator
from modelpilot.control.decisions import DecisionRow, DecisionStore
from modelpilot.control.lease import Lease
from modelpilot.control.policy import Approval, Policy
from modelpilot.control.remediation import Decision, Remediator, Signal, signal_of
from modelpilot.events.model import AlarmEvent, Event, SloAlertEvent
from modelpilot.registry import Registry
from modelpilot.slo.spec import parse_duration

__all__ = ["RemediationController"]

log = logging.getLogger(__name__)


RECALL_S = 7 * 86400.0  # how far back stored decisions count on a restart (longer than any sensible cooldown)


class RemediationController:
    """Applies a remediation policy to the signals on the bus."""

    def __init__(
        self,
        registry: Registry,
        policy: Policy,
        *,
        actor: str = "modelpilot-controller",
        actuator: Actuator | None = None,
        clock: Callable[[], float] = _time.time,
        lease: Lease | None = None,
    ) -> None:
        self.registry = registry
        self.policy = policy
        self.lease = lease
        self.remediator = Remediator(policy)
        self.actuator = actuator or Actuator(registry, actor=actor, clock=clock)
        self.audit = AuditLog(registry.store, clock=lambda: datetime.fromtimestamp(self.clock(), UTC))
        self.actor = actor
        self.clock = clock
        self._rules = {r.name: r for r in policy.rules}
        self.decisions = DecisionStore(registry.store)
        self._queue: queue.Queue[AlarmEvent | SloAlertEvent | None] = queue.Queue()
        self.sweep_s = 1.0  # how often approvals and expiries are looked at
        self._thread: threading.Thread | None = None
        self._open: set[tuple[str, str, str | None]] = set()  # signals that called for actions, until they clear
        self.outcomes: list[tuple[Decision, dict[str, Any]]] = []  # the last few, for tests and the dashboard

    def __call__(self, batch: Sequence[Event]) -> None:
        """Bus subscriber: queue the alarm and SLO-alert events."""
        for ev in batch:
            if isinstance(ev, AlarmEvent | SloAlertEvent):
                self._queue.put(ev)

    def handle(self, events: Sequence[AlarmEvent | SloAlertEvent]) -> list[tuple[Decision, dict[str, Any]]]:
        """Decide and act on events now; returns each decision with its outcome."""
        out: list[tuple[Decision, dict[str, Any]]] = []
        if self.lease is not None and not self.lease.held:
            if not self.lease.acquire():
                return out  # another controller leads and acts on these signals
            self.recall()  # just took the lead: what the previous leader decided holds here too
        for ev in events:
            signal = signal_of(ev)
            key = (signal.model, signal.kind, signal.slo or signal.variant)
            began = self.remediator.first_seen(signal)
            for decision in self.remediator.decide(signal, now=self.clock()):
                outcome = self._carry_out(decision)
                self._record(decision, outcome)
                out.append((decision, outcome))
                self._open.add(key)
            if not signal.active and key in self._open:  # the signal that called for actions has cleared
                self._open.discard(key)
                self._cleared(signal, began)
        self.outcomes = [*self.outcomes, *out][-100:]
        return out

    def _carry_out(self, d: Decision) -> dict[str, Any]:
        if d.held is not None:
            return {"status": "held", "reason": d.held}
        if d.dry_run:
            return {"status": "dry_run", "reason": "the policy runs dry: decided and recorded, not done"}
        rule = self._rules[d.rule]
        now = self.clock()
        if d.action == "require_approval":
            return self.actuator.act(d, rule)
        if d.evidence.get("needs_approval"):
            approval = rule.approval or Approval()
            expires = now + parse_duration(approval.timeout)
            ident = self.decisions.add(
                model=d.model, rule=d.rule, action=d.action, signal_id=d.signal.id, evidence=d.evidence, now=now,
                status="awaiting_approval", expires_at=expires,
            )  # fmt: skip
            self.remediator.made(ident)
            return {"status": "awaiting_approval", "decision": ident, "expires_at": expires,
                    "on_timeout": approval.on_timeout}  # fmt: skip
        ident = self.decisions.add(
            model=d.model, rule=d.rule, action=d.action, signal_id=d.signal.id, evidence=d.evidence, now=now
        )
        self.remediator.made(ident)
        return self._execute(ident, d, expected=("pending",))

    def _execute(self, ident: int, d: Decision, *, expected: tuple[str, ...]) -> dict[str, Any]:
        """Carry out a stored decision once: claimed first, outcome stored after."""
        if not self.decisions.claim(ident, expected=expected):
            return {"status": "skipped", "reason": f"decision {ident} was already taken up", "decision": ident}
        outcome = {**self.actuator.act(d, self._rules[d.rule], ident), "decision": ident}
        self.decisions.set(ident, str(outcome["status"]), outcome)
        return outcome

    # ----------------------------------------------------------------------------------------------- sweep
    def sweep(self) -> list[tuple[Decision, dict[str, Any]]]:
        """Carry out approved decisions, settle expired approvals, and recover what a dead controller left."""
        if self.lease is not None and not self.lease.held and not self.lease.acquire():
            return []
        now = self.clock()
        out: list[tuple[Decision, dict[str, Any]]] = []
        for row in self.decisions.list(status=("approved", "awaiting_approval", "pending", "acting")):
            d = _decision_of(row)
            if row.rule not in self._rules:  # the policy changed under it: a person decides
                outcome = {"status": "cancelled", "reason": "its rule is no longer in the policy", "decision": row.id}
                self.decisions.set(row.id, "cancelled", outcome)
                self._record(d, outcome)
                continue
            if row.status == "awaiting_approval":
                if row.expires_at is None or row.expires_at > now:
                    continue
                rule = self._rules[row.rule]
                if (rule.approval or Approval()).on_timeout == "cancel":
                    if not self.decisions.claim(row.id, expected=("awaiting_approval",)):
                        continue  # approved at the last moment: the next sweep carries it out
                    outcome = {"status": "cancelled", "reason": "nobody approved in time", "decision": row.id}
                    self.decisions.set(row.id, "cancelled", outcome)
                else:
                    outcome = self._execute(row.id, d, expected=("awaiting_approval",))
            elif row.status == "acting":  # actions run to their end on this thread: a crash left this one
                outcome = self._recover(row.id, d)
            elif row.status in ("approved", "pending"):
                outcome = self._execute(row.id, d, expected=(row.status,))
            else:
                continue
            self._record(d, outcome)
            out.append((d, outcome))
        return out

    def _recover(self, ident: int, d: Decision) -> dict[str, Any]:
        took_place = self.actuator.effective(d.action, d.model, ident)
        if took_place is None:
            why = f"{d.action} may have happened before the controller stopped: not repeated, check it by hand"
            outcome = {"status": "interrupted", "decision": ident, "reason": why}
        elif took_place:
            outcome = {"status": "done", "decision": ident, "reason": "had taken place before the restart"}
        else:
            outcome = {**self.actuator.act(d, self._rules[d.rule], ident), "decision": ident, "recovered": True}
        self.decisions.set(ident, str(outcome["status"]), outcome)
        return outcome

    def _record(self, d: Decision, outcome: dict[str, Any]) -> None:
        with self.registry.store.write() as conn:
            self.audit.append(
                conn,
                actor=self.actor,
                action=f"remediation.{d.action}",
                subject=f"model:{d.model}/rule:{d.rule}",
                model=d.model,
                reason=f"{d.signal.kind} {d.signal.severity or 'cleared'}: {outcome['status']}",
                evidence={**dict(d.evidence), "outcome": outcome, "dry_run": d.dry_run},
            )
        log.warning("remediation %s for %s (rule %s): %s", d.action, d.model, d.rule, outcome)

    def _cleared(self, signal: Any, began: float | None) -> None:
        with self.registry.store.write() as conn:
            self.audit.append(
                conn,
                actor=self.actor,
                action="remediation.cleared",
                subject=f"model:{signal.model}",
                model=signal.model,
                reason=f"{signal.kind} cleared",
                evidence={"signal": {"id": signal.id, "kind": signal.kind, **dict(signal.evidence)}, "began": began},
            )

    # ----------------------------------------------------------------------------------------------- thread
    def start(self) -> RemediationController:
        """Work off the queue on a thread."""
        self._thread = threading.Thread(target=self._run, name="modelpilot-remediation", daemon=True)
        self._thread.start()
        return self

    def recall(self) -> int:
        """Give the remediator what was decided before this process (cooldowns, hourly budget, seen signals)."""
        now = self.clock()
        past = [
            (r.id, r.model, r.rule, r.action, r.signal_id, r.created_at)
            for r in self.decisions.list()
            if now - r.created_at < RECALL_S  # as when they were made: every stored decision spent its rule's turn
        ]
        return self.remediator.remember(past, now=now)

    def _run(self) -> None:
        try:
            taken = self.recall()
            if taken:
                log.info("remediation: %d earlier decision(s) taken back (cooldowns and budget hold)", taken)
        except Exception:
            log.exception("remediation: the earlier decisions could not be read")
        try:
            self.sweep()  # first: what a controller that died left behind
        except Exception:
            log.exception("remediation: recovering stored decisions failed")
        while True:
            try:
                ev = self._queue.get(timeout=self.sweep_s)
            except queue.Empty:
                ev = None
                try:
                    self.sweep()
                except Exception:
                    log.exception("remediation: the sweep of stored decisions failed")
                continue
            if ev is None:
                return
            try:
                self.handle([ev])
            except Exception:
                log.exception("remediation of %s failed", ev.request_id)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the queued events, then stop."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=timeout)
            self._thread = None


def _decision_of(row: DecisionRow) -> Decision:
    """A stored decision back as a :class:`Decision` (its signal from the evidence)."""
    raw = dict(row.evidence.get("signal") or {})
    signal = Signal(
        id=str(raw.get("id", row.signal_id)),
        kind=str(raw.get("kind", "?")),
        model=row.model,
        active=True,
        severity=raw.get("severity"),
        version=raw.get("version"),
        variant=raw.get("variant"),
        window=raw.get("window"),
        slo=raw.get("slo"),
        evidence=raw,
    )
    return Decision(row.action, row.rule, row.model, signal, False, None, row.evidence)
