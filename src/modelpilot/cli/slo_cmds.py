"""`modelpilot slo`: check spec files, render Prometheus rules and Grafana dashboards, show budgets and burn rates."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from modelpilot.cli.context import registry
from modelpilot.cli.output import OutputFormat, console, emit, table
from modelpilot.errors import InvalidInputError, NotFoundError
from modelpilot.slo.evaluator import SloStatus
from modelpilot.slo.rules import render_rules
from modelpilot.slo.service import load_statuses
from modelpilot.slo.spec import SloSpec, load_specs

__all__ = ["slo_app"]

slo_app = typer.Typer(help="SLOs and error budgets: check specs, render rules and dashboards, show status.")

SpecOpt = Annotated[list[Path], typer.Option("--spec", "-f", help="SLO spec file (repeatable).")]
SkipOpt = Annotated[
    bool,
    typer.Option(
        "--skip-model-check", help="Do not check that the models are registered (e.g. rendering in a CI job)."
    ),
]
OutputOpt = Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")]


def _specs(ctx: typer.Context, files: list[Path], skip_model_check: bool) -> list[SloSpec]:
    models = None if skip_model_check else {m.name for m in registry(ctx).models()}
    return load_specs(files, models=models)


@slo_app.command("check")
def check(ctx: typer.Context, spec: SpecOpt, skip_model_check: SkipOpt = False) -> None:
    """Validate spec files: every problem is named by file, line and field."""
    specs = _specs(ctx, spec, skip_model_check)
    for s in specs:
        console.print(f"ok  {s.id}: {s.sli.kind}, {s.objective:g}% over {s.period}", highlight=False)


@slo_app.command("render")
def render(
    ctx: typer.Context,
    spec: SpecOpt,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the files to (made if missing).")],
    grafana: Annotated[bool, typer.Option("--grafana", help="Also write a Grafana dashboard per model.")] = False,
    skip_model_check: SkipOpt = False,
) -> None:
    """Write Prometheus recording and alerting rules per model (`<model>.rules.yml`), and with --grafana a dashboard
    per model (`<model>.dashboard.json`)."""
    specs = _specs(ctx, spec, skip_model_check)
    paths = []
    try:
        if grafana:  # first: it refuses a model name that cannot be a file name before anything is written
            from modelpilot.slo.grafana import render_dashboards

            paths += render_dashboards(specs, out)
        paths = render_rules(specs, out) + paths
    except ValueError as exc:
        raise InvalidInputError(f"slo render: {exc}", hint="rename the model or render its SLOs apart") from None
    for path in paths:
        console.print(f"wrote {path}", highlight=False)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.3f}%"


def _burn(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _status_table(rows: list[tuple[SloStatus, float]]) -> Table:
    columns = ["SLO", "objective", "SLI 1h", "budget left", "burn 5m", "1h", "6h", "3d", "firing", "age"]
    out = []
    for st, age in rows:
        firing = [sev for sev, since in st.alerts.items() if since is not None]
        out.append(
            [
                st.slo,
                f"{st.objective:g}%",
                _pct(st.sli.get("1h")),
                f"{100 * st.budget_remaining:.1f}%",
                *(_burn(st.burn_rates.get(w)) for w in ("5m", "1h", "6h", "3d")),
                ", ".join(firing) if firing else "-",
                f"{age:.0f}s",
            ]
        )
    return table(columns, out, title="SLOs (burn rate 1 spends the budget exactly over the period)")


@slo_app.command("status")
def status(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="Only this model's SLOs.")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Objective, SLI, budget left, burn rates and alerts of every SLO the running evaluator saved."""
    found = load_statuses(registry(ctx).store, model)
    if not found:
        where = f" of model {model!r}" if model else ""
        raise NotFoundError(
            f"no SLO status{where} saved yet",
            hint="run `modelpilot up --slo FILE` (the evaluator saves every SLO's status every 10 s)",
        )
    now = time.time()
    rows = [(st, max(0.0, now - saved.timestamp())) for st, saved in found]
    data = [{**st.model_dump(mode="json"), "age_s": round(age, 1)} for st, age in rows]
    emit(data, output, lambda: _status_table(rows))
