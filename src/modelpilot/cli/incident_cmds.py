"""`modelpilot incidents [NAME]`: the episodes of the audit log, first signal to recovery, with durations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from modelpilot.audit import AuditLog
from modelpilot.cli.context import registry
from modelpilot.cli.output import OutputFormat, emit, table
from modelpilot.control.incidents import incidents as find_incidents

__all__ = ["incidents"]


def _at(t: float | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _span(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s:.0f} s" if s < 120 else (f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h")


def incidents(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Model name (default: every model).")] = None,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """Episodes from the first signal to the recovery: what fired, what modelpilot did, how long each step took."""
    found = find_incidents(AuditLog(registry(ctx).store).entries(model=name))
    data = [
        {
            **i.model_dump(mode="json"),
            "open": i.open,
            "time_to_detect_s": i.time_to_detect,
            "time_to_mitigate_s": i.time_to_mitigate,
            "time_to_recover_s": i.time_to_recover,
        }
        for i in found
    ]
    columns = ["model", "began", "signals", "actions", "to detect", "to mitigate", "to recover", "status"]
    rows = [
        (
            i.model,
            _at(i.began),
            ", ".join(i.signals),
            ", ".join(i.actions),
            _span(i.time_to_detect),
            _span(i.time_to_mitigate),
            _span(i.time_to_recover),
            "open" if i.open else "recovered",
        )
        for i in found
    ]
    emit(data, output, lambda: table(columns, rows, title="incidents"))
