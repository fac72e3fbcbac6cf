"""Gather what each dashboard page shows into plain dicts: one bounded read of each store (the last N of
everything), shaped by :mod:`modelpilot.ui.shape`. Blocking: the routes call these on a worker thread.

Example:
    >>> import tempfile
    >>> from modelpilot.config import load_settings
    >>> from modelpilot.registry import Registry
    >>> from modelpilot.ui.rates import RequestRates
    >>> src = Sources.open(Registry.open(load_settings(home=tempfile.mkdtemp())))
    >>> overview(src, RequestRates(source=list), now=0.0)["models"]
    []
    >>> src.registry.store.close()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from modelpilot.audit import AuditLog
from modelpilot.control.freeze import frozen
from modelpilot.control.rollouts import RolloutStore
from modelpilot.monitoring.history import MonitorHistory
from modelpilot.registry import Registry
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from modelpilot.slo.service import load_statuses
from modelpilot.storage import tables as t
from modelpilot.ui import shape, windows
from modelpilot.ui.rates import RequestRates, backlog_of

__all__ = ["LIMITS", "Sources", "model_detail", "overview"]

LIMITS = {
    "models": 200,
    "windows": 80,
    "alarms": 60,
    "rollouts": 6,
    "verdicts": 60,
    "audit": 50,
    "decisions": 15,
    "plan_changes": 10,
    "versions": 30,
    "recent": 12,
}
"""How much of each store a page reads at most."""


@dataclass(frozen=True)
class Sources:
    """The stores the dashboard reads, over one registry's store."""

    registry: Registry
    plans: TrafficPlans
    history: MonitorHistory
    rollouts: RolloutStore
    audit: AuditLog

    @classmethod
    def open(cls, registry: Registry) -> Sources:
        """The readers of ``registry``'s store."""
        store = registry.store
        return cls(registry, TrafficPlans(store), MonitorHistory(store), RolloutStore(registry), AuditLog(store))


def _plan(plan: TrafficPlan | None) -> dict[str, Any] | None:
    return None if plan is None else plan.to_json()


def _served(plan: TrafficPlan | None) -> tuple[int, ...]:
    return () if plan is None else plan.versions


def overview(src: Sources, rates: RequestRates, now: float) -> dict[str, Any]:
    """Every model: its traffic plan, health (active alarms, SLOs), active rollout and recent request rate."""
    _, plans = src.plans.all()
    statuses = shape.slo_rows(load_statuses(src.registry.store))
    active_rollouts = {r.spec.model: (rid, r) for rid, r in src.rollouts.active()}
    models = []
    for m in src.registry.models()[: LIMITS["models"]]:
        plan = plans.get(m.name)
        alarms = src.history.alarms(m.name, last=LIMITS["alarms"])
        active = shape.active_alarms(alarms, _served(plan))
        slos = [s for s in statuses if s["model"] == m.name]
        rollout = active_rollouts.get(m.name)
        series = rates.series(m.name)
        totals = rates.totals(m.name)
        models.append(
            {
                "name": m.name,
                "description": m.description,
                "versions": m.versions,
                "latest": m.latest,
                "aliases": dict(m.aliases),
                "plan": _plan(plan),
                "health": shape.health(active, slos),
                "alarms": active,
                "slos": slos,
                "rollout": None
                if rollout is None
                else {
                    "id": rollout[0],
                    "version": rollout[1].spec.version,
                    "phase": rollout[1].phase,
                    "weight": rollout[1].weight,
                },
                "requests": sum(v.requests for v in totals.values()),
                "rate": shape.total_rate(series),
            }
        )
    return {
        "generated": now,
        "models": models,
        "backlog": backlog_of(rates.source()),
        "alarms": shape.alarm_rows(src.history.alarms(last=LIMITS["recent"])),
        "changes": shape.audit_rows(src.audit.entries(limit=LIMITS["recent"]), evidence=False),
    }


def _decisions(src: Sources, name: str) -> list[dict[str, Any]]:
    d = t.decisions
    query = sa.select(d).where(d.c.model == name).order_by(d.c.id.desc()).limit(LIMITS["decisions"])
    with src.registry.store.read() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "id": int(r.id),
            "rule": r.rule,
            "action": r.action,
            "status": r.status,
            "created": float(r.created_at),
            "evidence": r.evidence,
            "outcome": r.outcome,
        }
        for r in rows
    ]


def model_detail(src: Sources, name: str, rates: RequestRates, now: float) -> dict[str, Any]:
    """One model's page: versions and plan, traffic, drift, data quality, performance, SLOs, rollouts, decisions
    and the audit log. Raises :class:`~modelpilot.errors.NotFoundError` for an unknown model."""
    versions = src.registry.versions(name)[-LIMITS["versions"] :]
    plan = src.plans.get(name)
    changes = src.plans.history(name, limit=LIMITS["plan_changes"])
    found = src.history.windows(name, last=LIMITS["windows"])
    alarms = src.history.alarms(name, last=LIMITS["alarms"])
    slos = shape.slo_rows(load_statuses(src.registry.store, name))
    rollouts = src.rollouts.history(name, limit=LIMITS["rollouts"])
    verdicts = src.audit.entries(model=name, action="rollout.verdict", limit=LIMITS["verdicts"])
    audit = src.audit.entries(model=name, limit=LIMITS["audit"])
    active = shape.active_alarms(alarms, _served(plan))
    return {
        "generated": now,
        "name": name,
        "description": versions[-1].description if versions else "",
        "versions": [
            {
                "version": v.version,
                "format": v.format,
                "aliases": list(v.aliases),
                "description": v.description,
                "created": v.created_at.isoformat(),
                "created_by": v.created_by,
                "role": None if plan is None else plan.role_of(v.version),
            }
            for v in reversed(versions)
        ],
        "plan": _plan(plan),
        "plan_changes": [c.to_json() for c in reversed(changes)],
        "frozen": frozen(src.registry, name, now=now),
        "health": shape.health(active, slos),
        "alarms": {"active": active, "history": shape.alarm_rows(alarms)},
        "traffic": shape.traffic(rates.series(name), rates.totals(name)),
        "drift": windows.drift_matrix(found),
        "quality": windows.quality(found),
        "performance": windows.performance(found),
        "slos": slos,
        "rollouts": shape.rollout_rows(rollouts, verdicts, now),
        "decisions": _decisions(src, name),
        "audit": shape.audit_rows(audit),
    }
