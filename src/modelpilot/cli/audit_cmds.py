"""`modelpilot audit log|verify`: read the hash-chained audit log and check it."""

from __future__ import annotations

from typing import Annotated

import typer

from modelpilot.audit import AuditLog
from modelpilot.cli.context import registry
from modelpilot.cli.output import OutputFormat, console, emit, err_console, parse_time, table

__all__ = ["audit_app"]

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
OutputOpt = Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")]


def _summary(evidence: object, width: int = 90) -> str:
    text = str(evidence)
    return text if len(text) <= width else text[: width - 3] + "..."


@audit_app.command("log")
def log(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="Only entries about this model.")] = None,
    since: Annotated[str | None, typer.Option(help="ISO-8601 time or a span back from now (30m, 6h, 7d).")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. promote.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the newest N entries.", min=1)] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Entries in order, with actor, action, subject, reason and evidence."""
    entries = AuditLog(registry(ctx).store).entries(
        model=model, since=parse_time(since, option="--since") if since else None, action=action, limit=limit
    )
    emit(
        [e.to_json_dict() for e in entries],
        output,
        lambda: table(
            ["#", "time (UTC)", "actor", "action", "subject", "reason", "evidence"],
            [
                (
                    e.seq,
                    e.time.strftime("%Y-%m-%d %H:%M:%S"),
                    e.actor,
                    e.action,
                    e.subject,
                    e.reason,
                    _summary(e.evidence),
                )
                for e in entries
            ],
        ),
    )


@audit_app.command("verify")
def verify(ctx: typer.Context, output: OutputOpt = OutputFormat.table) -> None:
    """Check every hash link; exit 0 if intact, 1 naming the first bad entry."""
    report = AuditLog(registry(ctx).store).verify()
    if output is not OutputFormat.table:
        emit(report, output, lambda: "")
    elif report.ok:
        console.print(f"audit log intact: {report.entries} entries, head #{report.head_seq} sha256:{report.head_hash}")
    else:
        err_console.print(f"audit log BROKEN at entry #{report.first_bad_seq}: {report.problem}")
        err_console.print(f"  {report.entries} entries before it verify")
    if not report.ok:
        raise typer.Exit(1)
