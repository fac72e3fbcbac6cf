"""`modelpilot token ...`: create, list and revoke the API's bearer tokens (the secret is printed once, at creation)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.text import Text

from modelpilot.auth import TokenInfo, Tokens
from modelpilot.cli.context import settings
from modelpilot.cli.output import OutputFormat, emit, err_console, table
from modelpilot.storage import Store

__all__ = ["token_app"]

token_app = typer.Typer(help="API bearer tokens (roles predict, ingest, operate, admin).", no_args_is_help=True)
OutputOpt = Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")]

_WARNING = "copy this token now: it is not shown again (only its SHA-256 is stored)"


def _tokens(ctx: typer.Context) -> Tokens:
    store = Store(settings(ctx).store_url)
    ctx.find_root().call_on_close(store.close)
    return Tokens(store)


def _as_dict(info: TokenInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "role": info.role.value,
        "prefix": info.prefix,
        "created_at": info.created_at,
        "created_by": info.created_by,
        "active": info.active,
        "revoked_at": info.revoked_at,
        "revoked_by": info.revoked_by,
    }


def _when(t: datetime | None) -> str:
    return "-" if t is None else t.strftime("%Y-%m-%d %H:%M:%S")


@token_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="A new, unique name (names are never reused).")],
    role: Annotated[str, typer.Option("--role", help="predict, ingest, operate or admin.")],
    reason: Annotated[str, typer.Option(help="Why (audited).")] = "",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Create a token and print its secret, once."""
    s = settings(ctx)
    info, secret = _tokens(ctx).create(name, role, actor=s.actor_name, reason=reason)
    if output is OutputFormat.table:
        err_console.print(f"created token {info.name!r} (role {info.role.value}, prefix mp_{info.prefix})")
        sys.stdout.write(secret + "\n")  # plain write: nothing may wrap or restyle the secret
    else:
        emit({**_as_dict(info), "token": secret}, output, lambda: "")
    err_console.print(Text.assemble(("warning: ", "bold yellow"), _WARNING), highlight=False)


@token_app.command("list")
def list_tokens(ctx: typer.Context, output: OutputOpt = OutputFormat.table) -> None:
    """Every token, oldest first (never the secret or its hash)."""
    infos = _tokens(ctx).list()
    emit(
        [_as_dict(i) for i in infos],
        output,
        lambda: table(
            ["name", "role", "prefix", "created (UTC)", "created by", "revoked (UTC)", "revoked by"],
            [
                (
                    i.name,
                    i.role.value,
                    f"mp_{i.prefix}...",
                    _when(i.created_at),
                    i.created_by,
                    _when(i.revoked_at),
                    i.revoked_by or "",
                )
                for i in infos
            ],
        ),
    )


@token_app.command("revoke")
def revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Token name.")],
    reason: Annotated[str, typer.Option(help="Why (required; audited).")] = "",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Revoke a token for good; servers refuse it from their next token reload."""
    info = _tokens(ctx).revoke(name, actor=settings(ctx).actor_name, reason=reason)
    emit(_as_dict(info), output, lambda: f"token {info.name!r} (prefix mp_{info.prefix}) revoked")
