"""Traffic plans on the store: read, set, roll back, history — every change audited in the same transaction.

Each change gets the next global ``revision``; serving replicas poll :meth:`TrafficPlans.revision` (one indexed
``max()``) and reload when it moves, so a change reaches every replica within the poll interval.

Rollback is instant and needs no arguments beyond a reason: when a canary takes traffic it is removed (the stable
version keeps all traffic); otherwise (no canary, or one at weight 0) the stable version goes back to the newest
earlier stable version that was never itself rolled back from (the last known-good one).

Example:
    >>> import tempfile
    >>> from modelpilot.storage import Store
    >>> from modelpilot.serving.plan import TrafficPlan
    >>> store = Store(f"sqlite:///{tempfile.mkdtemp()}/mp.db")
    >>> plans = TrafficPlans(store)
    >>> plans.get("credit") is None
    True
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelpilot.audit.log import AuditLog
from modelpilot.errors import ConflictError, InvalidInputError, ModelPilotError, NotFoundError
from modelpilot.serving.plan import TrafficPlan
from modelpilot.storage import Store
from modelpilot.storage.tables import models, traffic_history, traffic_plans, versions

__all__ = ["PlanChange", "TrafficPlans"]

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PlanChange:
    """One entry of a model's plan history."""

    model: str
    revision: int
    kind: str
    plan: TrafficPlan | None
    previous: TrafficPlan | None
    changed_at: datetime
    actor: str
    reason: str
    rolled_back: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The API form."""
        return {
            "model": self.model,
            "revision": self.revision,
            "kind": self.kind,
            "plan": None if self.plan is None else self.plan.to_json(),
            "previous": None if self.previous is None else self.previous.to_json(),
            "changed_at": self.changed_at.isoformat(),
            "actor": self.actor,
            "reason": self.reason,
            "rolled_back": list(self.rolled_back),
        }


class TrafficPlans:
    """The traffic plans of every model on one store.

    Parameters
    ----------
    store
        Where plans live.
    clock
        Current UTC time (injected for tests).
    """

    def __init__(self, store: Store, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.store = store
        self.audit = AuditLog(store, clock=clock)
        self.clock = clock

    # ------------------------------------------------------------------------------------------- reads
    @staticmethod
    def revision_of(conn: Connection) -> int:
        """The newest plan revision in the store (0 when no plan was ever set)."""
        value = conn.execute(sa.select(sa.func.max(traffic_history.c.revision))).scalar()
        return int(value or 0)

    def revision(self) -> int:
        """The newest plan revision (what replicas poll)."""
        with self.store.read() as conn:
            return self.revision_of(conn)

    def all(self) -> tuple[int, dict[str, TrafficPlan]]:
        """The revision and every current plan, read together."""
        with self.store.read() as conn:
            rev = self.revision_of(conn)
            rows = list(conn.execute(sa.select(traffic_plans.c.model_id, traffic_plans.c.plan)))
        plans: dict[str, TrafficPlan] = {}
        for row in rows:
            try:  # one unreadable row must not stop every other model from following its plan
                plan = TrafficPlan.from_json(row.plan)
            except (ModelPilotError, KeyError, TypeError, ValueError) as exc:
                log.error("traffic plan of model id %s cannot be read, skipped: %s", row.model_id, exc)
                continue
            plans[plan.model] = plan
        return rev, plans

    def get(self, name: str) -> TrafficPlan | None:
        """The current plan of a model, or ``None`` when it is not served."""
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(traffic_plans.c.plan)
                .select_from(traffic_plans.join(models, models.c.id == traffic_plans.c.model_id))
                .where(models.c.name == name)
            ).first()
        return None if row is None else TrafficPlan.from_json(row.plan)

    def history(self, name: str, *, limit: int | None = None) -> list[PlanChange]:
        """Every plan change of a model, oldest first (``limit`` keeps the newest)."""
        with self.store.read() as conn:
            model_id = self._model_id(conn, name)
            return self._history(conn, name, model_id, limit)

    def _history(self, conn: Connection, name: str, model_id: int, limit: int | None) -> list[PlanChange]:
        q = sa.select(traffic_history).where(traffic_history.c.model_id == model_id).order_by(traffic_history.c.id)
        rows = list(conn.execute(q))
        out: list[PlanChange] = []
        previous: TrafficPlan | None = None
        for r in rows:
            plan = None if r.plan is None else TrafficPlan.from_json(r.plan)
            rolled = tuple(int(v) for v in (r.plan or {}).get("extra", {}).get("rolled_back", ()))
            out.append(
                PlanChange(name, int(r.revision), r.kind, plan, previous, r.changed_at, r.actor, r.reason, rolled)
            )
            previous = plan
        return out[-limit:] if limit else out

    @staticmethod
    def _model_id(conn: Connection, name: str) -> int:
        row = conn.execute(sa.select(models.c.id).where(models.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"model {name!r} is not registered", hint="list models with: modelpilot models")
        return int(row.id)

    # ------------------------------------------------------------------------------------------- writes
    def set(self, plan: TrafficPlan, *, actor: str, reason: str = "") -> PlanChange:
        """Make ``plan`` the model's plan (every version in it must be registered)."""
        with self.store.write() as conn:
            model_id = self._model_id(conn, plan.model)
            known = {
                int(v)
                for v in conn.execute(sa.select(versions.c.version).where(versions.c.model_id == model_id)).scalars()
            }
            missing = [v for v in plan.versions if v not in known]
            if missing:
                raise NotFoundError(
                    f"model {plan.model!r} has no version(s) {missing}",
                    hint=f"registered versions: {sorted(known)}; list them with: modelpilot versions {plan.model}",
                )
            return self._write(conn, model_id, plan, kind="set", actor=actor, reason=reason)

    def rollback(self, name: str, *, actor: str, reason: str) -> PlanChange:
        """Send all traffic back to the last known-good version, at once."""
        if not reason.strip():
            raise InvalidInputError("reason: rollback needs a reason", hint='add --reason "why" (it is audited)')
        with self.store.write() as conn:
            model_id = self._model_id(conn, name)
            row = conn.execute(sa.select(traffic_plans.c.plan).where(traffic_plans.c.model_id == model_id)).first()
            if row is None:
                raise NotFoundError(
                    f"model {name!r} has no traffic plan to roll back",
                    hint=f"set one with: modelpilot traffic set {name} --stable V",
                )
            current = TrafficPlan.from_json(row.plan)
            history = self._history(conn, name, model_id, None)
            bad = {v for change in history for v in change.rolled_back}
            rolled: tuple[int, ...]
            if current.canary is not None and current.weight > 0:
                rolled = (current.canary,)
                target = current.stable
            else:
                bad.add(current.stable)
                earlier = [c.plan.stable for c in history if c.plan is not None and c.plan.stable not in bad]
                if not earlier:
                    raise ConflictError(
                        f"model {name!r} has no canary and no earlier known-good stable version to roll back to",
                        hint=f"choose the version yourself: modelpilot traffic set {name} --stable V",
                    )
                rolled = (current.stable,) if current.canary is None else (current.stable, current.canary)
                target = earlier[-1]
            shadows = tuple(s for s in current.shadows if s.version != target)
            new = TrafficPlan(
                model=name,
                stable=target,
                shadows=shadows,
                sticky_header=current.sticky_header,
                sticky_field=current.sticky_field,
                extra={"rolled_back": list(rolled)},
            )
            return self._write(conn, model_id, new, kind="rollback", actor=actor, reason=reason, previous=current)

    def _write(
        self,
        conn: Connection,
        model_id: int,
        plan: TrafficPlan,
        *,
        kind: str,
        actor: str,
        reason: str,
        previous: TrafficPlan | None = None,
    ) -> PlanChange:
        if previous is None:
            row = conn.execute(sa.select(traffic_plans.c.plan).where(traffic_plans.c.model_id == model_id)).first()
            previous = None if row is None else TrafficPlan.from_json(row.plan)
        now = self.clock()
        revision = self.revision_of(conn) + 1
        stored = plan.to_json()
        if previous is None:
            conn.execute(
                sa.insert(traffic_plans).values(
                    model_id=model_id, plan=stored, revision=revision, updated_at=now, updated_by=actor
                )
            )
        else:
            conn.execute(
                sa.update(traffic_plans)
                .where(traffic_plans.c.model_id == model_id)
                .values(plan=stored, revision=revision, updated_at=now, updated_by=actor)
            )
        conn.execute(
            sa.insert(traffic_history).values(
                model_id=model_id, revision=revision, plan=stored, kind=kind, changed_at=now, actor=actor, reason=reason
            )
        )
        rolled = tuple(int(v) for v in plan.extra.get("rolled_back", ()))
        self.audit.append(
            conn,
            actor=actor,
            action=f"traffic.{kind}",
            subject=f"model:{plan.model}",
            model=plan.model,
            reason=reason,
            evidence={
                "revision": revision,
                "plan": stored,
                "previous": None if previous is None else previous.to_json(),
                **({"rolled_back": list(rolled)} if rolled else {}),
            },
        )
        return PlanChange(plan.model, revision, kind, plan, previous, now, actor, reason, rolled)
