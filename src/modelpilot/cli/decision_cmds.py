"""`modelpilot decisions [NAME]` and `modelpilot approve ID`: the remediation decisions in the store."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import typer

from modelpilot.audit import AuditLog
from modelpilot.cli.context import registry
from modelpilot.cli.context import settings as resolve_settings
from modelpilot.cli.output import OutputFormat, console, emit, table
from modelpilot.control.decisions import DecisionStore
from modelpilot.errors import ConflictError, NotFoundError

__all__ = ["approve", "decisions"]


def decisions(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Model name (default: every model).")] = None,
    waiting: Annotated[bool, typer.Option("--waiting", help="Only decisions waiting for an approval.")] = False,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """Remediation decisions: what a policy decided, and where each one stands."""
    rows = DecisionStore(registry(ctx).store).list(model=name, status=("awaiting_approval",) if waiting else None)
    data = [
        {
            "id": r.id,
            "model": r.model,
            "rule": r.rule,
            "action": r.action,
            "status": r.status,
            "created_at": r.created_at,
            "expires_at": r.expires_at,
            "outcome": r.outcome,
        }
        for r in rows
    ]

    def at(t: float | None) -> str:
        return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")

    columns = ["id", "model", "rule", "action", "status", "decided", "approve by"]
    cells = [(r.id, r.model, r.rule, r.action, r.status, at(r.created_at), at(r.expires_at)) for r in rows]
    emit(data, output, lambda: table(columns, cells, title="remediation decisions"))


def approve(
    ctx: typer.Context,
    decision_id: Annotated[int, typer.Argument(help="The decision's id (see: modelpilot decisions --waiting).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")] = "approved",
) -> None:
    """Approve a remediation decision that waits for one; the controller carries it out within a second."""
    reg = registry(ctx)
    store = DecisionStore(reg.store)
    row = store.get(decision_id)
    if row is None:
        raise NotFoundError(f"no decision {decision_id}", hint="list the waiting ones: modelpilot decisions --waiting")
    if row.status != "awaiting_approval":
        raise ConflictError(
            f"decision {decision_id} is {row.status}, not waiting for an approval", hint="nothing to do"
        )
    if row.expires_at is not None and row.expires_at <= time.time():
        raise ConflictError(
            f"decision {decision_id} waited past its approval timeout", hint="the policy's on_timeout settles it"
        )
    actor = resolve_settings(ctx).actor_name
    if not store.approve(decision_id, now=time.time()):  # settled meanwhile (timed out, cancelled, carried out)
        latest = store.get(decision_id)
        raise ConflictError(
            f"decision {decision_id} is {latest.status if latest else 'gone'}, not waiting for an approval",
            hint="see: modelpilot decisions",
        )
    with reg.store.write() as conn:
        AuditLog(reg.store).append(
            conn, actor=actor, action="remediation.approved", subject=f"model:{row.model}/decision:{decision_id}",
            model=row.model, reason=reason, evidence={"decision": decision_id, "action": row.action, "rule": row.rule},
        )  # fmt: skip
    console.print(f"decision {decision_id} ({row.action} of {row.model}) approved", highlight=False)
