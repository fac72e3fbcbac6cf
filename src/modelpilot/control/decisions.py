"""Remediation decisions in the store, so that deciding and acting survive a crash and wait for approvals.

A decision to act is written before anything is done (``pending``, or ``awaiting_approval`` until its timeout),
marked ``acting`` when the action starts, and ``done`` / ``skipped`` / ``failed`` with the outcome after it. A
controller that restarts finds what it left: ``pending`` decisions are carried out; ``acting`` ones are checked
(traffic-plan actions leave the decision id in the plan change's reason, so a rollback that happened is not done
again) or, for actions with effects outside modelpilot (a webhook, a retraining command), marked ``interrupted``
for a person rather than repeated.

Example:
    >>> import tempfile
    >>> from modelpilot.storage import Store
    >>> store = Store(f"sqlite:///{tempfile.mkdtemp()}/doc.db")
    >>> ds = DecisionStore(store)
    >>> i = ds.add(model="m", rule="r", action="rollback", signal_id="s1", evidence={}, now=10.0)
    >>> ds.set(i, "done", {"status": "done"}); [(d.id, d.status) for d in ds.list(model="m")]
    [(1, 'done')]
    >>> store.close()
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from modelpilot.storage import Store
from modelpilot.storage import tables as t

__all__ = ["DecisionRow", "DecisionStore"]


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One stored decision."""

    id: int
    model: str
    rule: str
    action: str
    status: str
    signal_id: str
    evidence: Mapping[str, Any]
    outcome: Mapping[str, Any] | None
    created_at: float
    expires_at: float | None


class DecisionStore:
    """The ``decisions`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(
        self,
        *,
        model: str,
        rule: str,
        action: str,
        signal_id: str,
        evidence: Mapping[str, Any],
        now: float,
        status: str = "pending",
        expires_at: float | None = None,
    ) -> int:
        """Record a decision to act; returns its id."""
        with self.store.write() as conn:
            inserted = conn.execute(
                sa.insert(t.decisions).values(
                    model=model,
                    rule=rule,
                    action=action,
                    status=status,
                    signal_id=signal_id[:400],
                    evidence=dict(evidence),
                    outcome=None,
                    created_at=now,
                    expires_at=expires_at,
                    updated_at=datetime.now(UTC),
                )
            ).inserted_primary_key
        assert inserted is not None
        return int(inserted[0])

    def set(self, decision_id: int, status: str, outcome: Mapping[str, Any] | None = None) -> None:
        """Move a decision to ``status`` (with the outcome, once there is one)."""
        values: dict[str, Any] = {"status": status, "updated_at": datetime.now(UTC)}
        if outcome is not None:
            values["outcome"] = dict(outcome)
        with self.store.write() as conn:
            conn.execute(sa.update(t.decisions).where(t.decisions.c.id == decision_id).values(**values))

    def approve(self, decision_id: int, *, now: float) -> bool:
        """Move a decision waiting for approval (and not past its timeout) to ``approved``; False otherwise."""
        with self.store.write() as conn:
            done = conn.execute(
                sa.update(t.decisions)
                .where(t.decisions.c.id == decision_id)
                .where(t.decisions.c.status == "awaiting_approval")
                .where(sa.or_(t.decisions.c.expires_at.is_(None), t.decisions.c.expires_at > now))
                .values(status="approved", updated_at=datetime.now(UTC))
            )
        return bool(done.rowcount)

    def claim(self, decision_id: int, *, expected: tuple[str, ...]) -> bool:
        """Move a decision to ``acting`` if it is still in one of the ``expected`` statuses (so it starts once)."""
        with self.store.write() as conn:
            done = conn.execute(
                sa.update(t.decisions)
                .where(t.decisions.c.id == decision_id)
                .where(t.decisions.c.status.in_(expected))
                .values(status="acting", updated_at=datetime.now(UTC))
            )
        return bool(done.rowcount)

    def get(self, decision_id: int) -> DecisionRow | None:
        """One decision by id."""
        with self.store.read() as conn:
            row = conn.execute(sa.select(t.decisions).where(t.decisions.c.id == decision_id)).first()
        return None if row is None else _row(row)

    def list(self, *, model: str | None = None, status: tuple[str, ...] | None = None) -> list[DecisionRow]:
        """Decisions, oldest first."""
        q = sa.select(t.decisions)
        if model is not None:
            q = q.where(t.decisions.c.model == model)
        if status is not None:
            q = q.where(t.decisions.c.status.in_(status))
        with self.store.read() as conn:
            return [_row(r) for r in conn.execute(q.order_by(t.decisions.c.id))]


def _row(r: Any) -> DecisionRow:
    return DecisionRow(
        id=int(r.id),
        model=str(r.model),
        rule=str(r.rule),
        action=str(r.action),
        status=str(r.status),
        signal_id=str(r.signal_id),
        evidence=dict(r.evidence),
        outcome=None if r.outcome is None else dict(r.outcome),
        created_at=float(r.created_at),
        expires_at=None if r.expires_at is None else float(r.expires_at),
    )
