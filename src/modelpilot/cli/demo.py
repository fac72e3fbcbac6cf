"""`modelpilot demo` (what `make demo` runs): the whole story on the embedded shape, in a fresh folder."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

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
    fast: Annotated[bool, typer.Option("--fast", help="Shorter scenes (about a minute and a half).")] = False,
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the server running at the end, to explore (its pid is printed).")
    ] = False,
    port: Annotated[int, typer.Option("--port", help="Server port (a free one if taken).")] = 8000,
    prologue_only: Annotated[
        bool, typer.Option("--registry-only", help="Only the registry chapter (no server, no traffic).")
    ] = False,
) -> None:
    """Train, gate and promote a credit model; serve it under live traffic; watch a canary with a hidden
    regression rolled back, then drift caught, a retraining started by the remediation policy, and the retrained
    version promoted by its rollout; end with the incidents' timings and `audit verify`."""
    from modelpilot.cli.registry_cmds import gate_table
    from modelpilot.demo.live import Narrator
    from modelpilot.demo.scenes import Pace, run_story
    from modelpilot.demo.story import run_registry_story

    base = settings(ctx)
    demo_home = (home or base.home / "demo").resolve()
    demo_settings = load_settings(
        home=demo_home, actor=base.actor_name, store=f"sqlite:///{demo_home / 'modelpilot.db'}"
    )
    console.print(f"[bold]modelpilot demo[/] - state in {demo_home}")
    prologue = run_registry_story(demo_settings, say=console.print, show_gate=lambda r: console.print(gate_table(r)))
    if prologue_only:
        if not prologue.audit_ok:
            raise typer.Exit(1)
        return

    def narrator(load: Any, context: Any) -> Narrator:
        return Narrator(console, load, context)

    def on_term(signum: int, frame: Any) -> None:  # a cancelled job: unwind, so the server is stopped too
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, on_term)
    try:
        result, server = run_story(demo_settings, narrator, pace=Pace.fast() if fast else Pace(), port=port)
    except RuntimeError as exc:  # TimedOut, or the server did not start
        console.print(f"[red]the demo stopped[/]: {exc}; the server's log is {demo_home / 'server.log'}")
        raise typer.Exit(1) from None
    try:
        from modelpilot.registry import Registry

        reg = Registry.open(demo_settings)
        try:
            verify = reg.audit.verify()
        finally:
            reg.store.close()
        table = Table(title="incidents", title_justify="left")
        for col in ("incident", "time to detect", "time to mitigate"):
            table.add_column(col)
        for i in result.incidents:
            table.add_row(str(i["incident"]), f"{i['detected_s']:.0f} s", f"{i['mitigated_s']:.0f} s")
        console.print()
        console.print(table)
        console.print(
            f"audit verify: {'[green]intact[/]' if verify.ok else '[red]BROKEN[/]'} ({verify.entries} entries, "
            f"head sha256:{verify.head_hash[:16]}...)",
            highlight=False,
        )
        console.print(f"the story in the audit log: modelpilot --home {demo_home} audit log --model credit")
        console.print(f"dashboard: {result.url}/ui", highlight=False)
        story_ok = result.rolled_back and result.drift_alarm and result.promoted and verify.ok
    finally:
        if keep:
            console.print(f"the server keeps running (pid {server.proc.pid}; stop it with: kill {server.proc.pid})")
        else:
            server.stop()
    if not story_ok:
        console.print("[red]the story did not go as told[/]: see the lines above and the server log")
        raise typer.Exit(1)
