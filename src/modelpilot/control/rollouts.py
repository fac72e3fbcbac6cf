"""Rollouts in the store: start one (checked before anything is written), read the active ones, record every
transition with its evidence in the audit log, and bring the traffic plan to what the rollout's state asks for.

The traffic plan is *reconciled*, not commanded: :meth:`RolloutStore.reconcile` compares the model's plan with
:func:`~modelpilot.control.rollout.plan_for` of the stored state and writes it only when they differ. A controller
that crashes between recording a decision and changing the plan changes it on its next pass, once.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from modelpilot.audit import AuditLog
from modelpilot.control.freeze import frozen
from modelpilot.control.rollout import Rollout, RolloutSpec, Transition, abort, plan_for, roll_back, start
from modelpilot.errors import ConflictError, GateFailedError, InvalidInputError, NotFoundError
from modelpilot.registry import Registry
from modelpilot.serving.traffic import TrafficPlans
from modelpilot.storage import tables as t

__all__ = ["RolloutStore"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RolloutStore:
    """The rollouts of one store."""

    def __init__(self, registry: Registry, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.registry = registry
        self.store = registry.store
        self.plans = TrafficPlans(self.store)
        self.audit = AuditLog(self.store)
        self.clock = clock

    # ------------------------------------------------------------------------------------------------ reads
    def active(self, model: str | None = None) -> list[tuple[int, Rollout]]:
        """The active rollouts (of one model), with their ids."""
        q = sa.select(t.rollouts.c.id, t.rollouts.c.state).where(t.rollouts.c.active.is_(True))
        if model is not None:
            q = q.where(t.rollouts.c.model == model)
        with self.store.read() as conn:
            rows = conn.execute(q.order_by(t.rollouts.c.id)).all()
        return [(int(r.id), Rollout.model_validate(r.state)) for r in rows]

    def latest(self, model: str) -> tuple[int, Rollout] | None:
        """The model's newest rollout, active or not."""
        q = sa.select(t.rollouts.c.id, t.rollouts.c.state).where(t.rollouts.c.model == model)
        with self.store.read() as conn:
            row = conn.execute(q.order_by(t.rollouts.c.id.desc()).limit(1)).first()
        return None if row is None else (int(row.id), Rollout.model_validate(row.state))

    def history(self, model: str | None = None, *, limit: int = 20) -> list[tuple[int, Rollout]]:
        """The newest rollouts, newest first."""
        q = sa.select(t.rollouts.c.id, t.rollouts.c.state)
        if model is not None:
            q = q.where(t.rollouts.c.model == model)
        with self.store.read() as conn:
            rows = conn.execute(q.order_by(t.rollouts.c.id.desc()).limit(limit)).all()
        return [(int(r.id), Rollout.model_validate(r.state)) for r in rows]

    # ------------------------------------------------------------------------------------------------ writes
    def start(self, spec: RolloutSpec, *, now: float, actor: str, reason: str, evidence: dict[str, Any]) -> int:
        """Record a new rollout and apply its first plan; refused (nothing written) when the model has an active
        rollout, the version is unknown, the stable version moved, or the candidate fails its promotion gates."""
        if not reason.strip():
            raise InvalidInputError("reason: a rollout needs a reason", hint='add --reason "why" (it is audited)')
        self.registry.get(spec.model, spec.version)  # NotFoundError names the version
        held = frozen(self.registry, spec.model, now=now)
        if held is not None:
            raise ConflictError(
                f"rollouts of {spec.model!r} are frozen: {held}",
                hint="wait for the SLO's budget to recover, or lift it: modelpilot rollout unfreeze " + spec.model,
            )
        plan = self.plans.get(spec.model)
        if plan is None:
            raise NotFoundError(
                f"model {spec.model!r} has no traffic plan to roll out from",
                hint=f"serve it first: modelpilot traffic set {spec.model} --stable V",
            )
        if plan.stable != spec.stable:
            raise ConflictError(
                f"model {spec.model!r} serves v{plan.stable} as stable, not v{spec.stable}",
                hint="start the rollout again (it reads the stable version from the plan)",
            )
        report = self.registry.gate_report(spec.model, spec.version)
        if not report.passed:
            failed = ", ".join(r.rule for r in report.failed)
            raise GateFailedError(
                f"v{spec.version} of {spec.model} fails its promotion gates ({failed}): it cannot be rolled out",
                hint=f"check with: modelpilot promote {spec.model} {spec.version} (nothing was changed)",
                details={"report": report.model_dump(mode="json")},
            )
        rollout = start(spec, now=now)
        stamp = self.clock()
        with self.store.write() as conn:
            busy = conn.execute(
                sa.select(t.rollouts.c.id, t.rollouts.c.version)
                .where(t.rollouts.c.model == spec.model)
                .where(t.rollouts.c.active.is_(True))
            ).first()
            if busy is not None:
                raise ConflictError(
                    f"model {spec.model!r} already has an active rollout (of v{busy.version})",
                    hint=f"finish it first: modelpilot rollout status {spec.model}, or rollout abort {spec.model}",
                )
            inserted = conn.execute(
                sa.insert(t.rollouts).values(
                    model=spec.model,
                    version=spec.version,
                    phase=rollout.phase,
                    active=True,
                    state=rollout.model_dump(mode="json"),
                    created_at=stamp,
                    updated_at=stamp,
                )
            ).inserted_primary_key
            assert inserted is not None
            rid = int(inserted[0])
            self.audit.append(
                conn,
                actor=actor,
                action="rollout.start",
                subject=f"model:{spec.model}/rollout:{rid}",
                model=spec.model,
                reason=reason,
                evidence={"spec": spec.model_dump(mode="json"), "gates": report.model_dump(mode="json"), **evidence},
            )
        self.reconcile(rollout, actor=actor)
        return rid

    def record(
        self,
        rid: int,
        rollout: Rollout,
        transition: Transition | None,
        *,
        actor: str,
        action: str,
        evidence: dict[str, Any],
        reason: str = "",
        expected: Rollout | None = None,
    ) -> None:
        """Save the rollout's new state and one audit entry (a verdict, or a person's decision) together.

        With ``expected`` (the state the change was decided on), the write is refused with :class:`ConflictError`
        when the stored state moved meanwhile (a person aborted while the controller judged): nothing is written.
        """
        with self.store.write() as conn:
            if expected is not None:
                row = conn.execute(sa.select(t.rollouts.c.state).where(t.rollouts.c.id == rid)).first()
                if row is None or Rollout.model_validate(row.state) != expected:
                    raise ConflictError(
                        f"rollout {rid} of {rollout.spec.model} changed while this change was being decided",
                        hint=f"look again: modelpilot rollout status {rollout.spec.model}",
                    )
            conn.execute(
                sa.update(t.rollouts)
                .where(t.rollouts.c.id == rid)
                .values(
                    phase=rollout.phase,
                    active=not rollout.final,
                    state=rollout.model_dump(mode="json"),
                    updated_at=self.clock(),
                )
            )
            body = dict(evidence)
            if transition is not None:
                body["transition"] = {
                    "event": transition.event,
                    "from": transition.before,
                    "to": transition.after,
                    "weight": transition.weight,
                }
            self.audit.append(
                conn,
                actor=actor,
                action=action,
                subject=f"model:{rollout.spec.model}/rollout:{rid}",
                model=rollout.spec.model,
                reason=reason or (transition.reason if transition else "") or action,
                evidence=body,
            )

    def finish(
        self, before: Rollout, after: Rollout, transition: Transition | None, *, now: float, actor: str
    ) -> tuple[Rollout, Transition | None]:
        """A rollout reaching ``promoted`` moves the production alias through the promotion gates; if the gates
        refuse now, the rollout is rolled back instead."""
        if after.phase != "promoted":
            return after, transition
        spec = before.spec
        try:
            self.registry.promote(spec.model, spec.version, reason="rollout passed every step", actor=actor)
        except GateFailedError as exc:
            return roll_back(before, now=now, reason=f"promotion gates refused at the end: {exc.message}")
        return after, transition

    def end_active(self, model: str, *, actor: str, reason: str) -> Rollout | None:
        """Abort the model's active rollout, if any (a person or a policy changed the traffic plan by hand: the
        rollout must not put its plan back); returns the aborted rollout."""
        for rid, r in self.active(model):
            ended, transition = abort(r, now=_time.time(), reason=reason)
            self.record(rid, ended, transition, actor=actor, action="rollout.abort", evidence={}, expected=r)
            return ended
        return None

    def reconcile(self, rollout: Rollout, *, actor: str, note: str = "") -> bool:
        """Make the model's traffic plan what the rollout asks for; True when it had to change."""
        current = self.plans.get(rollout.spec.model)
        desired = plan_for(rollout, current)
        if current == desired:
            return False
        why = f"rollout of v{rollout.spec.version}: {rollout.phase}" + (f" {note}" if note else "")
        self.plans.set(desired, actor=actor, reason=why)
        return True
