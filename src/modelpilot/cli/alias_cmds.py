"""`modelpilot alias ...`: move aliases and answer "which version held this alias at time T, who moved it, why"."""

from __future__ import annotations

from typing import Annotated

import typer

from modelpilot.cli.context import registry
from modelpilot.cli.output import OutputFormat, console, emit, parse_time, table
from modelpilot.registry import AliasMove

__all__ = ["alias_app"]

alias_app = typer.Typer(help="Aliases (production, canary, fallback, ...) and their history.", no_args_is_help=True)
OutputOpt = Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")]


def _rows(moves: list[AliasMove]) -> list[tuple[object, ...]]:
    return [
        (
            m.moved_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            f"v{m.version}" if m.version else "(unset)",
            f"v{m.previous_version}" if m.previous_version else "-",
            m.actor,
            m.reason,
            "yes" if m.forced else "",
            m.audit_seq,
        )
        for m in moves
    ]


_COLUMNS = ["moved at (UTC)", "version", "previous", "actor", "reason", "forced", "audit #"]


@alias_app.command("set")
def set_alias(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Argument(help="Alias, e.g. production, fallback.")],
    version: Annotated[int, typer.Argument(help="Version to point at.")],
    reason: Annotated[str, typer.Option(help="Why (required; audited).")] = "",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Point an alias at a version (ungated; use `promote` for gated moves)."""
    move = registry(ctx).set_alias(name, alias, version, reason=reason)
    emit(
        move,
        output,
        lambda: (
            f"{name}: {alias} -> v{version} (was "
            f"{'v' + str(move.previous_version) if move.previous_version else 'unset'})"
        ),
    )


@alias_app.command("unset")
def unset_alias(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Argument(help="Alias to remove.")],
    reason: Annotated[str, typer.Option(help="Why (required; audited).")] = "",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Remove an alias (kept in its history)."""
    move = registry(ctx).unset_alias(name, alias, reason=reason)
    emit(move, output, lambda: f"{name}: {alias} removed (was v{move.previous_version})")


@alias_app.command("list")
def list_aliases(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Current aliases of a model."""
    current = registry(ctx).aliases(name)
    emit(
        current,
        output,
        lambda: table(["alias", "version"], [(a, f"v{v}") for a, v in sorted(current.items())]),
    )


@alias_app.command("history")
def history(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Argument(help="Alias.")],
    at: Annotated[
        str | None,
        typer.Option(help="Only the move in force at this time (ISO-8601, or 2h, 7d back from now)."),
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Every move of an alias; with --at, the one in force at that time."""
    reg = registry(ctx)
    if at is None:
        moves = reg.alias_history(name, alias)
        emit(moves, output, lambda: table(_COLUMNS, _rows(moves), title=f"{name} / {alias}"))
        return
    when = parse_time(at, option="--at")
    move = reg.alias_at(name, alias, when)
    if move is None:
        emit(None, output, lambda: f"{name}: {alias} held no version at {when.isoformat()}")
        if output is OutputFormat.table:
            raise typer.Exit(0)
        return
    emit(move, output, lambda: table(_COLUMNS, _rows([move]), title=f"{name} / {alias} at {when.isoformat()}"))
    if output is OutputFormat.table:
        console.print(
            f"at {when.isoformat()}, {alias} was v{move.version}: moved by {move.actor} because {move.reason!r}"
        )
