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
from modelpilot.control.lease import Lease
from modelpilot.control.policy import Policy
from modelpilot.control.remediation import Decision, Remediator, signal_of
from modelpilot.events.model import AlarmEvent, Event, SloAlertEvent
from modelpilot.registry import Registry

__all__ = ["RemediationController"]

log = logging.getLogger(__name__)


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
        self._queue: queue.Queue[AlarmEvent | SloAlertEvent | None] = queue.Queue()
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
        if self.lease is not None and not self.lease.held and not self.lease.acquire():
            return out  # another controller leads and acts on these signals
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
        if d.evidence.get("needs_approval"):
            return {"status": "held", "reason": "waits for an approval (approvals are not implemented yet)"}
        return self.actuator.act(d, self._rules[d.rule])

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

    def _run(self) -> None:
        while True:
            ev = self._queue.get()
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
