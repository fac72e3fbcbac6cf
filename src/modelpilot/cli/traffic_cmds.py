"""`modelpilot traffic show|set|history` and `modelpilot rollback`: the traffic plan of a served model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelpilot.cli.context import registry
from modelpilot.cli.output import OutputFormat, console, emit, table
from modelpilot.errors import InvalidInputError, NotFoundError
from modelpilot.serving.plan import Shadow, TrafficPlan
from modelpilot.serving.traffic import PlanChange, TrafficPlans

if TYPE_CHECKING:
    from modelpilot.control.rollout import Rollout
    from modelpilot.registry import Registry

__all__ = ["rollback", "traffic_app"]

traffic_app = typer.Typer(help="Traffic plans: stable, canary weight, shadows, sticky key.", no_args_is_help=True)
OutputOpt = Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")]


def _end_rollout(reg: Registry, model: str, reason: str) -> Rollout | None:
    """A hand-made plan change ends the model's active rollout (so the controller does not put its plan back)."""
    from modelpilot.control.rollouts import RolloutStore

    return RolloutStore(reg).end_active(model, actor=reg.actor, reason=f"traffic changed by hand: {reason}")


def _plans(ctx: typer.Context) -> TrafficPlans:
    return TrafficPlans(registry(ctx).store)


def _describe(plan: TrafficPlan) -> list[tuple[str, str]]:
    rows = [("stable", f"v{plan.stable}")]
    if plan.canary is not None:
        rows.append(("canary", f"v{plan.canary} at {plan.weight:g}%"))
    for s in plan.shadows:
        rows.append(("shadow", f"v{s.version} at {s.rate * 100:g}% of requests"))
    if plan.sticky_header:
        rows.append(("sticky key", f"header {plan.sticky_header}"))
    if plan.sticky_field:
        rows.append(("sticky key", f"input field {plan.sticky_field}"))
    return rows


def _show_change(change: PlanChange, output: OutputFormat) -> None:
    def render() -> object:
        rows = _describe(change.plan) if change.plan else []
        title = f"{change.model}: plan revision {change.revision} ({change.kind})"
        if change.rolled_back:
            rows.append(("rolled back", ", ".join(f"v{v}" for v in change.rolled_back)))
        return table(["role", "version"], rows, title=title)

    emit(change.to_json(), output, render)  # type: ignore[arg-type]


@traffic_app.command("show")
def show(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Model name.")], output: OutputOpt = OutputFormat.table
) -> None:
    """The current traffic plan of a model."""
    plan = _plans(ctx).get(name)
    if plan is None:
        raise NotFoundError(
            f"model {name!r} has no traffic plan", hint=f"set one: modelpilot traffic set {name} --stable V"
        )
    emit(plan.to_json(), output, lambda: table(["role", "version"], _describe(plan), title=f"{name}: traffic plan"))


def _version(ctx: typer.Context, name: str, ref: str, option: str) -> int:
    try:
        return registry(ctx).resolve(name, ref).version
    except NotFoundError as exc:
        raise NotFoundError(f"{option}: {exc.message}", hint=exc.hint) from None


def _shadow(ctx: typer.Context, name: str, text: str) -> Shadow:
    ref, _, rate = text.partition(":")
    try:
        value = float(rate) if rate else 1.0
    except ValueError:
        raise InvalidInputError(
            f"--shadow {text!r}: rate {rate!r} is not a number",
            hint="use --shadow V or --shadow V:RATE with RATE in (0, 1], e.g. 3:0.1",
        ) from None
    return Shadow(_version(ctx, name, ref, "--shadow"), value)


@traffic_app.command("set")
def set_plan(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    stable: Annotated[str, typer.Option(help="Stable version: number, vN or alias (e.g. production).")],
    canary: Annotated[str | None, typer.Option(help="Canary version.")] = None,
    weight: Annotated[float, typer.Option(help="Canary share of traffic in percent, 0-100 (fractions allowed).")] = 0.0,
    shadow: Annotated[
        list[str] | None,
        typer.Option(help="Shadow version V (copies every request) or V:RATE, RATE in (0, 1] (repeatable)."),
    ] = None,
    sticky_header: Annotated[
        str | None, typer.Option(help="Request header whose value pins a caller to a variant.")
    ] = None,
    sticky_field: Annotated[
        str | None, typer.Option(help="Input field whose value pins a caller to a variant.")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (audited).")] = "",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Replace a model's traffic plan (every serving replica applies it within 2 s)."""
    plan = TrafficPlan(
        model=name,
        stable=_version(ctx, name, stable, "--stable"),
        canary=None if canary is None else _version(ctx, name, canary, "--canary"),
        weight=weight,
        shadows=tuple(_shadow(ctx, name, s) for s in shadow or ()),
        sticky_header=sticky_header,
        sticky_field=sticky_field,
    )
    reg = registry(ctx)
    change = _plans(ctx).set(plan, actor=reg.actor, reason=reason)
    _end_rollout(reg, plan.model, reason)  # after the plan is in: a refused plan leaves the rollout running
    _show_change(change, output)


@traffic_app.command("history")
def history(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    limit: Annotated[int | None, typer.Option(help="Show only the newest N changes.")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Every plan change of a model, oldest first."""
    changes = _plans(ctx).history(name, limit=limit)

    def render() -> object:
        rows = [
            (
                c.revision,
                c.changed_at.strftime("%Y-%m-%d %H:%M:%S"),
                c.kind,
                "; ".join(f"{r} {v}" for r, v in _describe(c.plan)) if c.plan else "-",
                c.actor,
                c.reason,
            )
            for c in changes
        ]
        return table(
            ["rev", "changed at (UTC)", "kind", "plan", "actor", "reason"], rows, title=f"{name}: plan history"
        )

    emit([c.to_json() for c in changes], output, render)  # type: ignore[arg-type]


def rollback(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    reason: Annotated[str, typer.Option(help="Why (required; audited).")] = "",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Send all traffic back to the last known-good version now (drops the canary, or restores the previous stable)."""
    if not reason.strip():
        raise InvalidInputError("rollback needs --reason", hint='e.g. --reason "p99 latency doubled on v4"')
    reg = registry(ctx)
    ended = _end_rollout(reg, name, reason)
    if ended is not None:  # the rollout's candidate was the canary: ending the rollout takes it out at once
        from modelpilot.control.rollouts import RolloutStore

        RolloutStore(reg).reconcile(ended, actor=reg.actor, note=f"rollback: {reason}")
        plan = _plans(ctx).get(name)
        console.print(
            f"rollout of {name} v{ended.spec.version} aborted; all traffic on v{plan.stable if plan else '?'}"
        )
        return
    change = _plans(ctx).rollback(name, actor=reg.actor, reason=reason)
    _show_change(change, output)
    if output is OutputFormat.table:
        console.print(
            f"rolled back {', '.join(f'v{v}' for v in change.rolled_back)}; every serving replica follows within 2 s"
        )
