"""The rollout controller: watches the event bus, judges each active rollout once per interval, records the
verdict with its evidence, moves the rollout, and reconciles the traffic plan.

Events of the stable version (variant ``stable``) and of the candidate (``canary``, or ``shadow`` during a shadow
phase) over one interval go into a pair of :class:`~modelpilot.control.samples.VariantSample`; at the end of the
interval the :class:`~modelpilot.control.judge.CanaryJudge` compares them, :func:`~modelpilot.control.rollout.advance`
applies the verdict, and :class:`~modelpilot.control.rollouts.RolloutStore` records both in one write (audit entry
``rollout.verdict``). After the last step the candidate is promoted through the registry's gates.

State lives in the store: a restarted controller reloads the active rollouts, starts a fresh interval, and changes
the traffic plan only where it differs from what the rollout's state asks for, so nothing is done twice.
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelpilot.control.freeze import frozen
from modelpilot.control.judge import CanaryJudge, Performance, Verdict
from modelpilot.control.lease import Lease
from modelpilot.control.rollout import Rollout, Transition, advance, exposed
from modelpilot.control.rollouts import RolloutStore
from modelpilot.control.samples import VariantSample
from modelpilot.errors import ConflictError
from modelpilot.events.model import Event, InferenceEvent
from modelpilot.monitoring.history import MonitorHistory
from modelpilot.registry import Registry

__all__ = ["RolloutController", "RolloutDecision"]

log = logging.getLogger(__name__)


@dataclass
class _Interval:
    start: float
    rid: int
    stable: VariantSample
    canary: VariantSample


@dataclass(frozen=True)
class RolloutDecision:
    """One interval's outcome for one rollout."""

    model: str
    rollout: int
    verdict: Verdict
    transition: Transition | None
    state: Rollout = field(repr=False)


class RolloutController:
    """Judges every active rollout of a store.

    Parameters
    ----------
    registry
        The registry (and store) the rollouts live in.
    actor
        The name audit entries carry.
    clock
        Seconds since the epoch (injected for tests).
    seed
        Seeds the samples' reservoirs, so a run repeats.
    lease
        With a lease, the controller acts only while it holds it (renewed every tick): one of several acts.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        actor: str = "modelpilot-controller",
        clock: Callable[[], float] = _time.time,
        seed: int | None = None,
        tick_s: float = 1.0,
        lease: Lease | None = None,
    ) -> None:
        self.registry = registry
        self.lease = lease
        self.rollouts = RolloutStore(registry)
        self.history = MonitorHistory(registry.store)
        self.actor = actor
        self.clock = clock
        self.tick_s = tick_s
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._active: dict[str, tuple[int, Rollout]] = {}
        self._intervals: dict[str, _Interval] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.decisions: list[RolloutDecision] = []  # the last few, for tests and the dashboard

    # ----------------------------------------------------------------------------------------------- input
    def __call__(self, batch: Sequence[Event]) -> None:
        """Bus subscriber: count the events of models being rolled out."""
        with self._lock:
            for ev in batch:
                if isinstance(ev, InferenceEvent) and ev.model in self._intervals:
                    self._count(ev)

    def _count(self, ev: InferenceEvent) -> None:
        interval = self._intervals[ev.model]
        _, r = self._active[ev.model]
        spec = r.spec
        if ev.version == spec.stable and ev.variant == "stable":
            interval.stable.add_event(ev)
        elif ev.version == spec.version and ev.variant in ("canary", "shadow"):
            interval.canary.add_event(ev)

    # ----------------------------------------------------------------------------------------------- clock
    def refresh(self, now: float) -> None:
        """Reload the active rollouts; start an interval for each one being judged."""
        active = {r.spec.model: (rid, r) for rid, r in self.rollouts.active()}
        with self._lock:
            self._active = active
            for model, (rid, r) in active.items():
                held = self._intervals.get(model)
                judged = r.phase in ("shadow", "canary") or exposed(r)
                if not judged:
                    self._intervals.pop(model, None)
                elif held is None or held.rid != rid:
                    self._intervals[model] = self._fresh(rid, now)
            for model in [m for m in self._intervals if m not in active]:
                del self._intervals[model]

    def _fresh(self, rid: int, now: float) -> _Interval:
        return _Interval(now, rid, VariantSample(rng=self._rng), VariantSample(rng=self._rng))

    def tick(self, now: float | None = None) -> list[RolloutDecision]:
        """Reconcile every active rollout's traffic plan and judge those whose interval is over."""
        t = self.clock() if now is None else now
        if self.lease is not None and not self.lease.acquire():  # another controller leads: it acts, not us
            with self._lock:
                self._active.clear()
                self._intervals.clear()
            return []
        self.refresh(t)
        out: list[RolloutDecision] = []
        for model, (rid, r) in sorted(self._active.items()):
            try:
                self.rollouts.reconcile(r, actor=self.actor)
                decision = self._judge(model, rid, r, t)
            except Exception:
                log.exception("rollout of %s: this pass failed; the next one tries again", model)
                continue
            if decision is not None:
                out.append(decision)
        self.decisions = [*self.decisions, *out][-100:]
        return out

    def _judge(self, model: str, rid: int, r: Rollout, now: float) -> RolloutDecision | None:
        with self._lock:
            interval = self._intervals.get(model)
            if interval is None or now - interval.start < r.spec.interval_s:
                return None
            self._intervals[model] = self._fresh(rid, now)  # the next interval starts now
        performance, alarms = self._monitor_signals(r, interval.start, now)
        verdict = CanaryJudge(r.spec.analysis).judge(
            interval.stable, interval.canary, performance=performance, alarms=alarms, time=now
        )
        summary = "; ".join(f"{c.name}: {c.reason}" for c in verdict.checks if c.outcome in ("fail", "pass"))
        held = frozen(self.registry, model, now=now)  # an exhausted budget holds a running rollout at its step
        reason = f"verdict {verdict.outcome}: {summary}"
        new, transition = advance(r, verdict.outcome, now=now, reason=reason, held=held is not None)
        new, transition = self.rollouts.finish(r, new, transition, now=now, actor=self.actor)
        evidence: dict[str, Any] = {
            "verdict": verdict.model_dump(mode="json"),
            "interval": {"start": interval.start, "end": now, "seconds": now - interval.start},
            "versions": {"stable": r.spec.stable, "candidate": r.spec.version},
            "phase": r.phase,
            "weight": r.weight,
            "held": held,
        }
        try:
            self.rollouts.record(
                rid, new, transition, actor=self.actor, action="rollout.verdict", evidence=evidence, expected=r
            )
        except ConflictError:  # a person changed the rollout while it was judged: their change stands
            log.info("rollout of %s changed while judged; the verdict is dropped", model)
            return None
        self.rollouts.reconcile(new, actor=self.actor)
        if transition is not None:
            log.warning("rollout of %s v%s: %s (%s)", model, r.spec.version, transition.event, transition.reason)
        with self._lock:
            if new.final:
                self._intervals.pop(model, None)
                self._active.pop(model, None)
            else:
                self._active[model] = (rid, new)
        return RolloutDecision(model, rid, verdict, transition, new)

    def _monitor_signals(
        self, r: Rollout, start: float, now: float
    ) -> tuple[tuple[Performance | None, Performance | None], dict[str, str]]:
        """What the monitor saw in the interval: estimated performance of both versions (traffic windows that
        closed in it, weighted by rows) and the candidate's active alarms."""
        spec = r.spec
        metric = spec.analysis.performance.metric

        def performance(version: int, variants: tuple[str, ...]) -> Performance | None:
            value, rows = 0.0, 0
            for variant in variants:
                for w in self.history.windows(spec.model, version=version, variant=variant, last=20):
                    estimate = (w.estimated or {}).get(metric)
                    if w.kind == "traffic" and w.end is not None and start < w.end <= now and estimate is not None:
                        value += estimate * w.rows
                        rows += w.rows
            return Performance(value / rows, rows) if rows else None

        active: dict[str, str] = {}
        began = r.started if r.started is not None else start
        for alarm in self.history.alarms(spec.model, version=spec.version, last=50):
            if alarm.variant not in ("canary", "shadow") or (alarm.time is not None and alarm.time < began):
                continue  # alarms of an earlier rollout of the same version do not count against this one
            if alarm.transition == "resolved" or alarm.severity is None:
                active.pop(alarm.kind, None)
            else:
                active[alarm.kind] = alarm.severity
        both = (performance(spec.stable, ("stable",)), performance(spec.version, ("canary", "shadow")))
        return both, active

    # ----------------------------------------------------------------------------------------------- thread
    def start(self) -> RolloutController:
        """Judge every ``tick_s`` on a thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="modelpilot-rollouts", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
            except Exception:
                log.exception("rollout controller pass failed; trying again")

    def stop(self) -> None:
        """Stop the thread (rollouts stay where they are; a restart continues them)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
