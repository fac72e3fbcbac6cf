"""Progressive rollouts as a pure state machine: a spec, a state, and what the next verdict does to it.

A rollout moves a candidate version toward production: optionally a shadow phase (the candidate sees a copy of
traffic, callers never see its answers), then canary steps of increasing weight (default 5, 25, 50, 100 percent),
one verdict of the canary judge per interval. A *fail* rolls back at once (the canary's weight goes to 0); a *pass*
moves to the next step, and a pass of the step before 100 promotes the candidate (at 100% there is no stable
traffic left to compare with); *inconclusive* stays at the step, and
after ``max_inconclusive`` intervals in a row the rollout pauses for a person to decide. A step at or beyond
``approve_at`` waits for ``modelpilot rollout approve``. While paused or waiting, a candidate that still takes
traffic is still judged: a fail rolls it back. The traffic plan of each state is :func:`plan_for`.

Example:
    >>> spec = RolloutSpec(model="credit", version=2, stable=1, steps=(10, 50, 100), interval_s=60)
    >>> r = start(spec, now=0.0)
    >>> r.phase, r.weight
    ('canary', 10.0)
    >>> r, t = advance(r, "pass", now=60.0)
    >>> r.phase, r.weight, t.event
    ('canary', 50.0, 'step')
    >>> r, t = advance(r, "pass", now=120.0)
    >>> r.phase, t.event, plan_for(r).stable
    ('promoted', 'promoted', 2)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelpilot.control.analysis import Analysis
from modelpilot.serving.plan import Shadow, TrafficPlan

__all__ = [
    "FINAL",
    "Phase",
    "Rollout",
    "RolloutSpec",
    "Transition",
    "abort",
    "advance",
    "approve",
    "exposed",
    "pause",
    "plan_for",
    "resume",
    "roll_back",
    "start",
]

Phase = Literal["shadow", "canary", "awaiting_approval", "paused", "promoted", "rolled_back", "aborted"]
FINAL = ("promoted", "rolled_back", "aborted")
"""Phases a rollout never leaves."""


class RolloutSpec(BaseModel):
    """What to roll out and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    version: int = Field(ge=1, description="The candidate.")
    stable: int = Field(ge=1, description="The version serving when the rollout started (the rollback target).")
    steps: tuple[float, ...] = Field((5.0, 25.0, 50.0, 100.0), description="Canary weights in percent, rising to 100.")
    interval_s: float = Field(60.0, ge=1.0, description="Seconds of traffic behind each verdict.")
    shadow_s: float = Field(0.0, ge=0.0, description="Seconds of shadow traffic before the first canary step.")
    approve_at: float | None = Field(None, description="The step weight from which each step waits for approval.")
    max_inconclusive: int = Field(10, ge=1, description="Inconclusive intervals in a row before pausing.")
    analysis: Analysis = Field(default_factory=lambda: Analysis(), description="The canary analysis to judge with.")

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value:
            raise ValueError("give at least one step, e.g. 5,25,50,100")
        if any(not (0 < w <= 100) for w in value):
            raise ValueError(f"{list(value)}: every step is a weight in (0, 100]")
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError(f"{list(value)}: steps must rise strictly")
        if value[-1] != 100:
            raise ValueError(f"{list(value)}: the last step must be 100 (the candidate takes all traffic)")
        if len(value) < 2:
            raise ValueError("give a canary step below 100 before it (the canary is judged against stable)")
        return tuple(float(w) for w in value)

    @model_validator(mode="after")
    def _versions(self) -> RolloutSpec:
        if self.version == self.stable:
            raise ValueError(f"version {self.version} is already the stable version")
        if self.approve_at is not None and self.approve_at not in self.steps:
            raise ValueError(f"approve_at {self.approve_at:g} is not one of the steps {list(self.steps)}")
        return self


class Rollout(BaseModel):
    """A rollout's state; every change makes a new one."""

    model_config = ConfigDict(frozen=True)

    spec: RolloutSpec
    phase: Phase
    step: int = Field(0, description="Index into spec.steps (the current or, while waiting, the next step).")
    since: float = Field(description="When the current phase or step began.")
    inconclusive: int = Field(0, description="Inconclusive verdicts in a row at this step.")
    approved: tuple[int, ...] = Field((), description="Step indexes a person approved.")
    reason: str = ""
    resume_phase: Phase | None = Field(None, description="What a paused rollout goes back to.")
    started: float | None = Field(None, description="When the rollout started.")

    @property
    def weight(self) -> float:
        """The canary weight the rollout is at now (0 in shadow and final phases but promoted)."""
        if self.phase in ("canary", "paused") and (self.resume_phase or self.phase) == "canary":
            return self.spec.steps[self.step]
        return 100.0 if self.phase == "promoted" else 0.0

    @property
    def final(self) -> bool:
        """Whether the rollout is over."""
        return self.phase in FINAL


@dataclass(frozen=True, slots=True)
class Transition:
    """What changed, for the audit log: ``event`` is step, promoted, rolled_back, paused, awaiting_approval,
    canary (shadow phase over), resumed, approved or aborted."""

    event: str
    before: Phase
    after: Phase
    weight: float
    reason: str


def _needs_approval(spec: RolloutSpec, step: int, approved: tuple[int, ...]) -> bool:
    return spec.approve_at is not None and spec.steps[step] >= spec.approve_at and step not in approved


def start(spec: RolloutSpec, *, now: float) -> Rollout:
    """A new rollout: in shadow if ``shadow_s`` is set, else at the first canary step (or waiting to approve it)."""
    if spec.shadow_s > 0:
        return Rollout(spec=spec, phase="shadow", since=now, started=now)
    phase: Phase = "awaiting_approval" if _needs_approval(spec, 0, ()) else "canary"
    return Rollout(spec=spec, phase=phase, since=now, started=now)


def advance(
    r: Rollout, verdict: str, *, now: float, reason: str = "", held: bool = False
) -> tuple[Rollout, Transition | None]:
    """Apply one interval's verdict (``pass``, ``fail`` or ``inconclusive``); waiting or final rollouts ignore it.

    ``held`` (the model's rollouts are frozen): a failing candidate is still rolled back, but nothing moves forward.
    """
    if r.phase in ("paused", "awaiting_approval") and exposed(r):
        if verdict == "fail":  # holding a weight is no reason to keep a failing candidate
            return _to(r, "rolled_back", now, "rolled_back", reason or "the canary judge failed the candidate")
        return r, None
    if r.phase not in ("shadow", "canary"):
        return r, None
    if verdict == "fail":
        return _to(r, "rolled_back", now, "rolled_back", reason or "the canary judge failed the candidate")
    if held:  # frozen: no step forward, and an inconclusive interval is not counted against the candidate
        return r, None
    if r.phase == "shadow":
        if now - r.since < r.spec.shadow_s:
            return r, None
        nxt: Phase = "awaiting_approval" if _needs_approval(r.spec, 0, r.approved) else "canary"
        return _to(r.model_copy(update={"step": 0}), nxt, now, "canary", "shadow phase over without a failure")
    if verdict == "pass":
        step = r.step + 1
        if _needs_approval(r.spec, step, r.approved):
            moved = r.model_copy(update={"step": step, "inconclusive": 0})
            return _to(moved, "awaiting_approval", now, "awaiting_approval", reason or "step passed")
        if r.spec.steps[step] == 100:  # the 100% step is the promotion: there is no stable left to compare with
            return _to(r.model_copy(update={"step": step}), "promoted", now, "promoted", reason or "every step passed")
        moved = r.model_copy(update={"step": step, "inconclusive": 0})
        return _to(moved, "canary", now, "step", reason or "step passed")
    count = r.inconclusive + 1
    if count >= r.spec.max_inconclusive:
        why = f"{count} inconclusive verdicts in a row at {r.weight:g}%: a person decides (resume or abort)"
        paused = r.model_copy(update={"inconclusive": count, "resume_phase": r.phase})
        return _to(paused, "paused", now, "paused", why)
    return r.model_copy(update={"inconclusive": count}), None


def exposed(r: Rollout) -> bool:
    """Whether the candidate takes traffic (as canary or shadow) in the rollout's state: then it is judged."""
    if r.final:
        return False
    plan = plan_for(r)
    return plan.canary == r.spec.version or any(x.version == r.spec.version for x in plan.shadows)


def approve(r: Rollout, *, now: float) -> tuple[Rollout, Transition]:
    """A person approves the waiting step."""
    if r.phase != "awaiting_approval":
        raise ValueError(f"the rollout of {r.spec.model} is {r.phase}, not waiting for approval")
    approved = (*r.approved, r.step)
    phase: Phase = "promoted" if r.spec.steps[r.step] == 100 else "canary"
    return _to(r.model_copy(update={"approved": approved}), phase, now, "approved", "approved")


def pause(r: Rollout, *, now: float, reason: str) -> tuple[Rollout, Transition]:
    """Hold the rollout where it is."""
    if r.final or r.phase == "paused":
        raise ValueError(f"the rollout of {r.spec.model} is {r.phase}: nothing to pause")
    return _to(r.model_copy(update={"resume_phase": r.phase}), "paused", now, "paused", reason)


def resume(r: Rollout, *, now: float, reason: str) -> tuple[Rollout, Transition]:
    """Continue a paused rollout where it stopped, with a fresh count of inconclusive verdicts."""
    if r.phase != "paused" or r.resume_phase is None:
        raise ValueError(f"the rollout of {r.spec.model} is {r.phase}, not paused")
    back = r.model_copy(update={"inconclusive": 0, "resume_phase": None})
    return _to(back, r.resume_phase, now, "resumed", reason)


def roll_back(r: Rollout, *, now: float, reason: str) -> tuple[Rollout, Transition]:
    """Roll back from any phase that is not final (a refused promotion, a failure while waiting)."""
    if r.final:
        raise ValueError(f"the rollout of {r.spec.model} is already {r.phase}")
    return _to(r, "rolled_back", now, "rolled_back", reason)


def abort(r: Rollout, *, now: float, reason: str) -> tuple[Rollout, Transition]:
    """Stop the rollout and send all traffic back to the stable version."""
    if r.final:
        raise ValueError(f"the rollout of {r.spec.model} is already {r.phase}")
    return _to(r, "aborted", now, "aborted", reason)


def _to(r: Rollout, phase: Phase, now: float, event: str, reason: str) -> tuple[Rollout, Transition]:
    after = r.model_copy(update={"phase": phase, "since": now, "reason": reason})
    if phase != "paused":
        after = after.model_copy(update={"resume_phase": None})
    return after, Transition(event=event, before=r.phase, after=phase, weight=after.weight, reason=reason)


def plan_for(r: Rollout, base: TrafficPlan | None = None) -> TrafficPlan:
    """The traffic plan the rollout's state asks for; other settings (sticky routing) come from ``base``."""
    s = r.spec
    others = tuple(x for x in (base.shadows if base else ()) if x.version not in (s.version, s.stable))
    shadowed = (*others, Shadow(s.version, 1.0))

    def plan(
        stable: int, canary: int | None = None, weight: float = 0.0, shadows: tuple[Shadow, ...] = others
    ) -> TrafficPlan:
        return TrafficPlan(
            model=s.model,
            stable=stable,
            canary=canary,
            weight=weight,
            shadows=shadows,
            sticky_header=base.sticky_header if base else None,
            sticky_field=base.sticky_field if base else None,
        )

    if r.phase == "promoted":
        return plan(s.version)
    if r.phase in ("rolled_back", "aborted"):
        return plan(s.stable)
    phase = r.resume_phase if r.phase == "paused" and r.resume_phase else r.phase
    if phase == "shadow" or (phase == "awaiting_approval" and r.step == 0):
        return plan(s.stable, shadows=shadowed)
    if phase == "awaiting_approval":  # hold the weight of the last step that ran
        return plan(s.stable, s.version, s.steps[r.step - 1])
    return plan(s.stable, s.version, s.steps[r.step])
