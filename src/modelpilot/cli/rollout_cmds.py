"""`modelpilot rollout start|status|pause|resume|abort|approve`: progressive rollouts judged by the canary judge.

The commands change the rollout in the store; the controller (inside `modelpilot up`) judges each interval and
moves the traffic plan. Every change is an audit entry.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from modelpilot.cli.context import registry
from modelpilot.cli.context import settings as resolve_settings
from modelpilot.cli.output import OutputFormat, console, emit, table
from modelpilot.control.analysis import load_analysis
from modelpilot.control.rollout import Rollout, RolloutSpec, abort, approve, pause, resume
from modelpilot.control.rollouts import RolloutStore
from modelpilot.errors import ConflictError, InvalidInputError, NotFoundError
from modelpilot.slo.spec import parse_duration

__all__ = ["rollout_app"]

rollout_app = typer.Typer(help="Progressive rollouts: canary steps judged against stable.", no_args_is_help=True)
OutputOpt = Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")]
NameArg = Annotated[str, typer.Argument(help="Model name.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")]


def _seconds(text: str, option: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InvalidInputError(f"{option}: {exc}", hint=f"e.g. {option} 60s, 5m or 1h") from None


def _steps(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise InvalidInputError(f"--steps {text!r}: not a list of weights", hint="e.g. --steps 5,25,50,100") from None


def _spec(fields: dict[str, Any]) -> RolloutSpec:
    try:
        return RolloutSpec.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'rollout'}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise InvalidInputError(f"rollout: {problems}", hint="see modelpilot rollout start --help") from None


@rollout_app.command("start")
def start_cmd(
    ctx: typer.Context,
    name: NameArg,
    version: Annotated[int, typer.Option("--version", help="The candidate version.")],
    reason: ReasonOpt,
    steps: Annotated[str, typer.Option(help="Canary weights in percent, ending at 100.")] = "5,25,50,100",
    interval: Annotated[str, typer.Option(help="Traffic behind each verdict (e.g. 60s, 5m).")] = "60s",
    shadow_first: Annotated[
        str | None, typer.Option("--shadow-first", help="Shadow the candidate this long first (e.g. 10m).")
    ] = None,
    analysis: Annotated[Path | None, typer.Option(help="Canary analysis YAML (default thresholds otherwise).")] = None,
    approve_at: Annotated[
        float | None, typer.Option("--approve-at", help="From this step weight on, each step waits for approval.")
    ] = None,
) -> None:
    """Start rolling out VERSION against the stable version of the model's traffic plan."""
    rollouts = RolloutStore(registry(ctx))
    plan = rollouts.plans.get(name)
    if plan is None:
        raise NotFoundError(
            f"model {name!r} has no traffic plan", hint=f"serve it: modelpilot traffic set {name} --stable V"
        )
    template = load_analysis(analysis)
    spec = _spec(
        {
            "model": name,
            "version": version,
            "stable": plan.stable,
            "steps": _steps(steps),
            "interval_s": _seconds(interval, "--interval"),
            "shadow_s": 0.0 if shadow_first is None else _seconds(shadow_first, "--shadow-first"),
            "approve_at": approve_at,
            "analysis": template,
        }
    )
    actor = resolve_settings(ctx).actor_name
    evidence = {"analysis_file": None if analysis is None else str(analysis)}
    rid = rollouts.start(spec, now=time.time(), actor=actor, reason=reason, evidence=evidence)
    first = "shadow" if spec.shadow_s else f"{spec.steps[0]:g}%"
    console.print(
        f"rollout {rid}: {name} v{version} against v{plan.stable}, steps {', '.join(f'{w:g}' for w in spec.steps)} "
        f"every {spec.interval_s:g} s, starting at {first}; the controller in `modelpilot up` judges it",
        highlight=False,
    )


def _row(rid: int, r: Rollout) -> list[Any]:
    return [r.spec.model, rid, f"v{r.spec.version}", f"v{r.spec.stable}", r.phase, f"{r.weight:g}%", r.reason]


@rollout_app.command("status")
def status(ctx: typer.Context, name: Annotated[str | None, typer.Argument(help="Model name.")] = None,
           output: OutputOpt = OutputFormat.table) -> None:  # fmt: skip
    """The active rollouts (with a name: that model's newest rollout, active or not)."""
    rollouts = RolloutStore(registry(ctx))
    if name is None:
        found = rollouts.active()
    else:
        latest = rollouts.latest(name)
        if latest is None:
            raise NotFoundError(f"model {name!r} has no rollout", hint=f"start one: modelpilot rollout start {name}")
        found = [latest]
    data = [{"id": rid, **r.model_dump(mode="json"), "weight": r.weight} for rid, r in found]
    columns = ["model", "rollout", "candidate", "stable", "phase", "weight", "last change"]
    emit(data, output, lambda: table(columns, [_row(rid, r) for rid, r in found], title="rollouts"))


def _change(ctx: typer.Context, name: str, action: str, reason: str, how: Any) -> None:
    reg = registry(ctx)
    rollouts = RolloutStore(reg)
    active = rollouts.active(name)
    if not active:
        raise NotFoundError(f"model {name!r} has no active rollout", hint="see: modelpilot rollout status")
    rid, r = active[0]
    now = time.time()
    try:
        new, transition = how(r, now)
    except ValueError as exc:
        raise InvalidInputError(f"rollout {rid}: {exc}", hint=f"see: modelpilot rollout status {name}") from None
    actor = resolve_settings(ctx).actor_name
    settled, final_transition = rollouts.finish(r, new, transition, now=now, actor=actor)
    rollouts.record(rid, settled, final_transition, actor=actor, action=action, evidence={}, reason=reason, expected=r)
    rollouts.reconcile(settled, actor=actor)
    console.print(f"rollout {rid} of {name}: {settled.phase} at {settled.weight:g}%", highlight=False)


def _needs(reason: str) -> str:
    if not reason.strip():
        raise InvalidInputError("--reason: give a reason", hint='e.g. --reason "waiting for the load test"')
    return reason


@rollout_app.command("pause")
def pause_cmd(ctx: typer.Context, name: NameArg, reason: ReasonOpt) -> None:
    """Hold the rollout at its step (the traffic plan stays)."""
    _change(ctx, name, "rollout.pause", _needs(reason), lambda r, now: pause(r, now=now, reason=reason))


@rollout_app.command("resume")
def resume_cmd(ctx: typer.Context, name: NameArg, reason: ReasonOpt) -> None:
    """Continue a paused rollout where it stopped."""
    _change(ctx, name, "rollout.resume", _needs(reason), lambda r, now: resume(r, now=now, reason=reason))


@rollout_app.command("abort")
def abort_cmd(ctx: typer.Context, name: NameArg, reason: ReasonOpt) -> None:
    """Stop the rollout: all traffic back to the stable version at once."""
    _change(ctx, name, "rollout.abort", _needs(reason), lambda r, now: abort(r, now=now, reason=reason))


@rollout_app.command("approve")
def approve_cmd(ctx: typer.Context, name: NameArg, reason: ReasonOpt = "approved") -> None:
    """Let a rollout waiting for approval take its next step (or be promoted, at 100)."""
    from modelpilot.control.freeze import frozen

    held = frozen(registry(ctx), name)
    if held is not None:  # a freeze holds running rollouts at their step: an approval would move one on
        raise ConflictError(
            f"rollouts of {name!r} are frozen: {held}",
            hint=f"wait for the budget to recover, or lift it first: modelpilot rollout unfreeze {name} --reason TEXT",
        )
    _change(ctx, name, "rollout.approve", reason, lambda r, now: approve(r, now=now))


@rollout_app.command("unfreeze")
def unfreeze_cmd(ctx: typer.Context, name: NameArg, reason: ReasonOpt) -> None:
    """Lift a remediation policy's freeze of the model's rollouts."""
    from modelpilot.control.freeze import unfreeze

    actor = resolve_settings(ctx).actor_name
    if not unfreeze(registry(ctx), name, actor=actor, reason=_needs(reason)):
        raise NotFoundError(f"rollouts of {name!r} are not frozen", hint="nothing to lift")
    console.print(f"rollouts of {name} are no longer frozen", highlight=False)
