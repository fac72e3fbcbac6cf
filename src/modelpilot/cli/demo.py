"""`modelpilot demo`: the story so far, on the embedded shape, in a fresh folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelpilot.cli.context import settings
from modelpilot.cli.output import console
from modelpilot.config import load_settings

__all__ = ["demo"]


def demo(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option("--demo-home", help="Folder for the demo's state (default <home>/demo; wiped at start)."),
    ] = None,
) -> None:
    """Train, register, gate and promote a credit model; refuse a regressed version; verify the audit log."""
    from modelpilot.cli.registry_cmds import gate_table
    from modelpilot.demo.story import run_registry_story

    base = settings(ctx)
    demo_home = home or base.home / "demo"
    demo_settings = load_settings(
        home=demo_home, actor=base.actor_name, store=f"sqlite:///{demo_home / 'modelpilot.db'}"
    )
    console.print(f"[bold]modelpilot demo[/] — state in {demo_home}")
    result = run_registry_story(demo_settings, say=console.print, show_gate=lambda r: console.print(gate_table(r)))
    console.print(f"\nDone. Explore it: modelpilot --home {demo_home} audit log --model credit")
    if not result.audit_ok:
        raise typer.Exit(1)
