"""The root Typer app: global options, command groups, and the error boundary of the `modelpilot` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.text import Text

from modelpilot import __version__
from modelpilot.cli.alias_cmds import alias_app
from modelpilot.cli.audit_cmds import audit_app
from modelpilot.cli.context import AppState, settings
from modelpilot.cli.control_cmds import control
from modelpilot.cli.decision_cmds import approve, decisions
from modelpilot.cli.demo import demo
from modelpilot.cli.incident_cmds import incidents
from modelpilot.cli.monitor_cmds import alarms, analyze, drift, performance, profile
from modelpilot.cli.monitor_run import monitor
from modelpilot.cli.output import err_console
from modelpilot.cli.registry_cmds import register_commands
from modelpilot.cli.rollout_cmds import rollout_app
from modelpilot.cli.serve_cmds import serve, up
from modelpilot.cli.slo_cmds import slo_app
from modelpilot.cli.stream_cmds import stream
from modelpilot.cli.token_cmds import token_app
from modelpilot.cli.traffic_cmds import rollback, traffic_app
from modelpilot.errors import ModelPilotError

__all__ = ["app", "main"]

app = typer.Typer(
    name="modelpilot",
    help="An autopilot for production ML models: serve, watch every prediction, act with evidence.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"modelpilot {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        Path | None, typer.Option(help="State folder (default ./.modelpilot; env MODELPILOT_HOME).")
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(help="Store URL (default sqlite:///<home>/modelpilot.db; postgresql://... for many nodes)."),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML settings file (env MODELPILOT_CONFIG).")] = None,
    actor: Annotated[str | None, typer.Option(help="Name recorded in the audit log (default user@host).")] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Global options; every command below reads the settings resolved from them once."""
    ctx.obj = AppState(config=config, home=home, store=store, actor=actor)


config_app = typer.Typer(help="Settings.", no_args_is_help=True)


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the resolved settings as JSON (the store's password and librdkafka secrets masked)."""
    s = settings(ctx)
    data = s.redacted()
    data["actor"] = s.actor_name
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


register_commands(app)
app.add_typer(alias_app, name="alias")
app.add_typer(audit_app, name="audit")
app.add_typer(config_app, name="config")
app.add_typer(token_app, name="token")
app.command("demo")(demo)
app.command("serve")(serve)
app.command("up")(up)
app.add_typer(traffic_app, name="traffic")
app.command("rollback")(rollback)
app.command("analyze")(analyze)
app.command("profile")(profile)
app.command("drift")(drift)
app.command("performance")(performance)
app.command("alarms")(alarms)
app.command("monitor")(monitor)
app.command("control")(control)
app.add_typer(slo_app, name="slo")
app.add_typer(rollout_app, name="rollout")
app.command("incidents")(incidents)
app.command("decisions")(decisions)
app.command("approve")(approve)
app.command("stream")(stream)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; deliberate errors print `error: ...` and `fix: ...` and exit non-zero, never a traceback."""
    try:
        app(args=argv, prog_name="modelpilot")
    except SystemExit as exc:  # Typer's standalone mode always ends this way
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except ModelPilotError as exc:
        err_console.print(Text.assemble(("error: ", "bold red"), exc.message), highlight=False)
        if exc.hint:
            err_console.print(Text(f"  fix: {exc.hint}"), highlight=False)
        return exc.exit_code
    return 0
