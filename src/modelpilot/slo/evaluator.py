"""The in-process SLO evaluator: reads the process's own metric samples (what a Prometheus scrape would see), keeps
each SLO's bad and total events in a :class:`~modelpilot.slo.budget.Ledger`, and reports budget, burn rates and
alert transitions. Pure: time and samples are arguments; :mod:`modelpilot.slo.service` runs it on a schedule.

Counters that go down (the process restarted) count from zero again, as Prometheus' ``rate`` does.

Example:
    >>> from modelpilot.slo.spec import SloSpec
    >>> spec = SloSpec(name="avail", model="m", sli={"kind": "availability"}, objective=99.9,
    ...                alerting={"min_events": 0})
    >>> ev = Evaluator([spec])
    >>> ok = lambda n: ("modelpilot_requests_total", {"model": "m", "variant": "stable", "code": "200"}, n)
    >>> bad = lambda n: ("modelpilot_requests_total", {"model": "m", "variant": "stable", "code": "500"}, n)
    >>> _ = ev.evaluate([ok(1000.0), bad(0.0)], now=1000.0)
    >>> statuses, alerts = ev.evaluate([ok(1000.0), bad(100.0)], now=1010.0)
    >>> statuses[0].burn_rates["5m"] > 14.4, [(a["severity"], a["state"]) for a in alerts]
    (True, [('page', 'firing'), ('ticket', 'firing')])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelpilot.slo.budget import ALERT_PAIRS, WINDOWS, Ledger, budget_remaining, burn_rate, firing
from modelpilot.slo.sli import Query, Sample
from modelpilot.slo.spec import SloSpec

__all__ = ["Evaluator", "SloStatus"]

_SEVERITIES = ("page", "ticket")


class SloStatus(BaseModel):
    """One SLO at one evaluation: SLI and burn rate per window, budget left, alerts firing."""

    model_config = ConfigDict(frozen=True)

    slo: str = Field(description="The SLO id, <model>-<name>.")
    name: str
    model: str
    kind: str
    objective: float = Field(description="Percent.")
    period: str
    error_budget: float
    time: float = Field(description="When it was evaluated (seconds since the epoch).")
    sli: dict[str, float | None] = Field(description="Share of good events per window and over the period.")
    burn_rates: dict[str, float | None] = Field(description="Error ratio over the error budget, per window.")
    events: dict[str, float] = Field(description="Events counted per window and over the period.")
    budget_remaining: float = Field(description="Share of the period's budget left (negative when overspent).")
    alerts: dict[str, float | None] = Field(description="page / ticket: since when it fires (None: not firing).")


class Evaluator:
    """Every SLO's ledger and alert state.

    Parameters
    ----------
    specs
        The SLOs.
    step_s
        The ledger's slot width (window sums are exact to one slot).
    """

    def __init__(self, specs: Sequence[SloSpec], *, step_s: float = 10.0) -> None:
        self.specs = list(specs)
        self.step_s = step_s
        self.queries = {s.id: Query.of(s) for s in self.specs}
        self.ledgers = {s.id: Ledger(s.period_s, step_s=step_s) for s in self.specs}
        self._last: dict[str, tuple[float, float]] = {s.id: (0.0, 0.0) for s in self.specs}
        self._since: dict[tuple[str, str], float] = {}  # (slo, severity) -> when it started firing
        self._metrics = {  # the metric names any SLI reads: every other sample is dropped at once
            series.metric
            for q in self.queries.values()
            for series in (q.total, q.bad, q.good, q.last_event)
            if series is not None
        }

    # ----------------------------------------------------------------------------------------------- update
    def prime(self, samples: Iterable[Sample]) -> None:
        """Take the counters' current values as the starting point: events before this call are not counted."""
        rows = [row for row in samples if row[0] in self._metrics]
        for spec in self.specs:
            query = self.queries[spec.id]
            if query.total is not None:
                self._last[spec.id] = query.counts(rows)

    def observe(self, samples: Iterable[Sample], now: float) -> None:
        """Count what happened since the last call (ratio SLIs) or one time sample (freshness)."""
        rows = [row for row in samples if row[0] in self._metrics]
        for spec in self.specs:
            query, ledger = self.queries[spec.id], self.ledgers[spec.id]
            if query.last_event is not None:
                newest = query.newest_event(rows)
                if newest is not None:
                    stale = now - newest > (spec.sli.max_age_s or 0.0)
                    ledger.add(now, bad=1.0 if stale else 0.0, total=1.0)
                continue
            bad, total = query.counts(rows)
            last_bad, last_total = self._last[spec.id]
            d_total = total - last_total if total >= last_total else total  # went down: restarted from zero
            d_bad = bad - last_bad if bad >= last_bad and total >= last_total else bad
            self._last[spec.id] = (bad, total)
            d_total = max(d_total, 0.0)
            ledger.add(now, bad=min(max(d_bad, 0.0), d_total), total=d_total)

    def evaluate(self, samples: Iterable[Sample], now: float) -> tuple[list[SloStatus], list[dict[str, Any]]]:
        """Observe ``samples`` at ``now``; return every SLO's status and the alert transitions (firing, resolved)."""
        self.observe(samples, now)
        statuses = [self.status(spec, now) for spec in self.specs]
        transitions: list[dict[str, Any]] = []
        for spec, st in zip(self.specs, statuses, strict=True):
            ratios = {w: None if v is None else 1.0 - v for w, v in st.sli.items()}
            events = None if spec.sli.kind == "freshness" else st.events
            guard = spec.alerting
            for severity in _SEVERITIES:
                held = (spec.id, severity)
                now_firing = getattr(guard, severity) and firing(  # a severity turned off resolves what it held
                    severity, ratios, events, spec.error_budget, guard.min_events, guard.min_bad_events
                )
                if now_firing and held not in self._since:
                    self._since[held] = now
                    transitions.append(self._transition(spec, st, severity, "firing", now))
                elif not now_firing and held in self._since:
                    transitions.append(self._transition(spec, st, severity, "resolved", self._since.pop(held)))
        if transitions:  # the statuses report the alerts as they stand after this evaluation
            statuses = [self.status(spec, now) for spec in self.specs]
        return statuses, transitions

    def status(self, spec: SloSpec, now: float) -> SloStatus:
        """``spec``'s status at ``now`` (no new samples)."""
        ledger = self.ledgers[spec.id]
        sli: dict[str, float | None] = {}
        burns: dict[str, float | None] = {}
        events: dict[str, float] = {}
        for name, seconds in [*WINDOWS.items(), ("period", spec.period_s)]:
            bad, total = ledger.sums(seconds, now)
            ratio = None if total <= 0 else bad / total
            sli[name] = None if ratio is None else round(1.0 - ratio, 12)
            burns[name] = burn_rate(ratio, spec.error_budget)
            events[name] = total
        # the loop ended on the period: bad and total are the period's
        return SloStatus(
            slo=spec.id,
            name=spec.name,
            model=spec.model,
            kind=spec.sli.kind,
            objective=spec.objective,
            period=spec.period,
            error_budget=spec.error_budget,
            time=now,
            sli=sli,
            burn_rates=burns,
            events=events,
            budget_remaining=budget_remaining(bad, total, spec.error_budget),
            alerts={sev: self._since.get((spec.id, sev)) for sev in _SEVERITIES},
        )

    @staticmethod
    def _transition(spec: SloSpec, st: SloStatus, severity: str, state: str, since: float) -> dict[str, Any]:
        pairs = [p for p in ALERT_PAIRS if p.severity == severity]
        return {
            "slo": spec.id,
            "name": spec.name,
            "model": spec.model,
            "alertname": spec.alert_name,
            "severity": severity,
            "state": state,
            "since": since,
            "source": "modelpilot",
            "kind": spec.sli.kind,
            "burn_rates": {w: st.burn_rates[w] for p in pairs for w in (p.long, p.short)},
            "thresholds": {f"{p.long}/{p.short}": p.factor for p in pairs},
            "budget_remaining": st.budget_remaining,
            "runbook_url": spec.runbook_url,
        }

    # ----------------------------------------------------------------------------------------------- state
    def to_state(self) -> dict[str, Any]:
        """Plain JSON per SLO: its ledger, last counter readings and firing alerts."""
        return {
            s.id: {
                "ledger": self.ledgers[s.id].to_state(),
                "last": list(self._last[s.id]),
                "since": {sev: self._since.get((s.id, sev)) for sev in _SEVERITIES},
            }
            for s in self.specs
        }

    def restore(self, state: Mapping[str, Any], *, counters_reset: bool = True) -> list[str]:
        """Load per-SLO state saved by :meth:`to_state` (SLOs not in it start empty); return the ids restored.

        ``counters_reset`` (the default: a new process) starts counter readings from zero again.
        """
        ledgers: dict[str, Ledger] = {}
        last: dict[str, tuple[float, float]] = {}
        since: dict[tuple[str, str], float] = {}
        for spec in self.specs:  # everything is read before anything changes: a bad state changes nothing
            item = state.get(spec.id)
            if not isinstance(item, Mapping):
                continue
            ledgers[spec.id] = Ledger.from_state(item["ledger"], period_s=spec.period_s)
            if not counters_reset:
                bad, total = item.get("last", (0.0, 0.0))
                last[spec.id] = (float(bad), float(total))
            for sev, t in (item.get("since") or {}).items():
                if t is not None:
                    since[(spec.id, str(sev))] = float(t)
        self.ledgers.update(ledgers)
        self._last.update(last)
        self._since.update(since)
        return list(ledgers)
