"""What the dashboard shows, derived from what the stores hold: pure functions from records (alarms, SLO statuses,
rollouts, audit entries, rate points) to plain JSON-ready dicts; monitor windows are shaped by
:mod:`modelpilot.ui.windows`. No I/O: :mod:`modelpilot.ui.data` reads the stores and calls these.

Example:
    >>> from modelpilot.monitoring.results import Alarm
    >>> raised = Alarm(model="m", version=1, variant="stable", kind="drift", transition="raised",
    ...                severity="critical", subjects={"income": "critical"}, window=6, time=60.0, evidence={})
    >>> [(a["kind"], a["severity"]) for a in active_alarms([raised])]
    [('drift', 'critical')]
    >>> health([], []), health(active_alarms([raised]), [])
    ('ok', 'critical')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from modelpilot.audit import AuditEntry
from modelpilot.control.rollout import Rollout
from modelpilot.monitoring.results import Alarm
from modelpilot.slo.evaluator import SloStatus
from modelpilot.ui.rates import RatePoint, Totals

__all__ = [
    "active_alarms",
    "alarm_rows",
    "audit_rows",
    "health",
    "rollout_rows",
    "slo_rows",
    "total_rate",
    "traffic",
    "worst",
]

_RANK = {None: 0, "ok": 0, "warning": 1, "critical": 2}


def worst(levels: Iterable[str | None]) -> str:
    """The most severe of some levels (``ok`` when none).

    >>> worst(["warning", None, "critical"]), worst([])
    ('critical', 'ok')
    """
    top = max(levels, key=lambda s: _RANK.get(s, 0), default=None)
    return top if top in ("warning", "critical") else "ok"


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


# ------------------------------------------------------------------------------------------------------ alarms
def alarm_rows(alarms: Sequence[Alarm]) -> list[dict[str, Any]]:
    """Alarm transitions, newest first."""
    return [
        {
            "model": a.model,
            "version": a.version,
            "variant": a.variant,
            "kind": a.kind,
            "transition": a.transition,
            "severity": a.severity,
            "subjects": dict(a.subjects),
            "window": a.window,
            "time": a.time,
        }
        for a in reversed(alarms)
    ]


def active_alarms(alarms: Sequence[Alarm], served: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """The alarms in force after these transitions (oldest first), one per version, variant and kind; with
    ``served``, only those of the versions the traffic plan serves (an alarm on a version no longer served stays
    raised, as no window of it closes any more)."""
    state: dict[tuple[int, str, str], Alarm] = {}
    for a in alarms:
        key = (a.version, a.variant, a.kind)
        if a.transition == "resolved" or a.severity is None:
            state.pop(key, None)
        else:
            state[key] = a
    keep = None if served is None else set(served)
    return [
        {
            "version": a.version,
            "variant": a.variant,
            "kind": a.kind,
            "severity": a.severity,
            "subjects": dict(a.subjects),
            "window": a.window,
            "time": a.time,
        }
        for key, a in sorted(state.items())
        if keep is None or a.version in keep
    ]


def health(active: Sequence[Mapping[str, Any]], slos: Sequence[Mapping[str, Any]]) -> str:
    """``ok``, ``warning`` or ``critical``: the worst of the active alarms and the SLO alerts firing (a page is
    critical, a ticket or an exhausted budget a warning)."""
    levels: list[str | None] = [a.get("severity") for a in active]
    for s in slos:
        firing = s.get("firing", {})
        levels.append("critical" if "page" in firing else "warning" if firing or s["budget_remaining"] <= 0 else None)
    return worst(levels)


# ------------------------------------------------------------------------------------------------------- SLOs
def slo_rows(statuses: Sequence[tuple[SloStatus, datetime]]) -> list[dict[str, Any]]:
    """Each SLO's budget, burn rates per window (shortest first) and the alerts firing."""
    rows = []
    for st, saved in statuses:
        rows.append(
            {
                "slo": st.slo,
                "name": st.name,
                "model": st.model,
                "kind": st.kind,
                "objective": st.objective,
                "period": st.period,
                "budget_remaining": st.budget_remaining,
                "sli": {k: _finite(v) for k, v in st.sli.items()},
                "burn_rates": {k: _finite(v) for k, v in st.burn_rates.items() if k != "period"},
                "events": dict(st.events),
                "firing": {k: v for k, v in st.alerts.items() if v is not None},
                "evaluated": st.time,
                "saved": saved.isoformat(),
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------------- traffic
def traffic(series: Mapping[str, Sequence[RatePoint]], totals: Mapping[str, Totals]) -> dict[str, Any]:
    """Per series (``v1 stable``): totals since the server started and the recent points of each chart."""
    names = sorted(set(series) | set(totals))
    rows = []
    for name in names:
        t = totals.get(name, Totals())
        points = series.get(name, [])
        rows.append(
            {
                "series": name,
                "requests": t.requests,
                "errors": t.errors,
                "error_ratio": t.error_ratio,
                "mean_latency_s": t.mean_latency_s,
                "p95_latency_s": t.quantile(0.95),
                "rate": points[-1].rate if points else None,
            }
        )

    def chart(attr: str, scale: float = 1.0) -> list[dict[str, Any]]:
        out = []
        for name in names:
            pts = []
            for p in series.get(name, []):
                value = getattr(p, attr)
                pts.append([p.time, None if value is None else value * scale])
            out.append({"name": name, "points": pts})
        return out

    return {
        "series": names,
        "rows": rows,
        "rate": chart("rate"),
        "p95_ms": chart("p95_latency_s", 1000.0),
        "error_pct": chart("error_ratio", 100.0),
    }


def total_rate(series: Mapping[str, Sequence[RatePoint]]) -> list[list[float]]:
    """Requests per second of every series together, per sample time.

    >>> total_rate({"v1 stable": [RatePoint(2.0, 3.0, 0.0, None, None)],
    ...             "v2 canary": [RatePoint(2.0, 1.0, 0.0, None, None)]})
    [[2.0, 4.0]]
    """
    by_time: dict[float, float] = {}
    for points in series.values():
        for p in points:
            by_time[p.time] = by_time.get(p.time, 0.0) + p.rate
    return [[when, rate] for when, rate in sorted(by_time.items())]


# --------------------------------------------------------------------------------------------------- rollouts
def _verdict(entry: AuditEntry) -> dict[str, Any]:
    evidence = entry.evidence_obj
    verdict = evidence.get("verdict", {})
    transition = evidence.get("transition") or {}
    interval = evidence.get("interval") or {}
    return {
        "seq": entry.seq,
        "time": interval.get("end") or entry.time.timestamp(),
        "outcome": verdict.get("outcome", "?"),
        "analysis": verdict.get("analysis"),
        "weight": evidence.get("weight"),
        "event": transition.get("event"),
        "to_weight": transition.get("weight"),
        "interval_s": interval.get("seconds"),
        "reason": entry.reason,
        "checks": [
            {
                "name": c.get("name"),
                "outcome": c.get("outcome"),
                "reason": c.get("reason", ""),
                "statistics": c.get("statistics", {}),
                "thresholds": c.get("thresholds", {}),
                "samples": c.get("samples", {}),
            }
            for c in verdict.get("checks", [])
        ],
    }


def _rollout_id(entry: AuditEntry) -> int | None:
    _, _, tail = entry.subject.partition("/rollout:")
    return int(tail) if tail.isdigit() else None


def rollout_rows(
    rollouts: Sequence[tuple[int, Rollout]], entries: Sequence[AuditEntry], now: float
) -> list[dict[str, Any]]:
    """Each rollout (newest first) with its verdicts (oldest first) and its timeline lane."""
    by_id: dict[int, list[AuditEntry]] = {}
    for e in entries:
        rid = _rollout_id(e)
        if rid is not None and e.action == "rollout.verdict":
            by_id.setdefault(rid, []).append(e)
    out = []
    for rid, r in rollouts:
        verdicts = [_verdict(e) for e in sorted(by_id.get(rid, []), key=lambda e: e.seq)]
        start = r.started if r.started is not None else (verdicts[0]["time"] if verdicts else r.since)
        end = now if not r.final else max([r.since, *(v["time"] for v in verdicts)])
        first = 0.0 if r.spec.shadow_s else r.spec.steps[0]
        steps = [(start, first)]
        for v in verdicts:
            if v["to_weight"] is not None and v["event"] is not None:
                steps.append((v["time"], float(v["to_weight"]) if v["event"] != "rolled_back" else 0.0))
        if r.final and r.phase != "promoted" and steps[-1][1] != 0.0:
            steps.append((end, 0.0))
        out.append(
            {
                "id": rid,
                "version": r.spec.version,
                "stable": r.spec.stable,
                "phase": r.phase,
                "weight": r.weight,
                "steps": list(r.spec.steps),
                "interval_s": r.spec.interval_s,
                "started": start,
                "reason": r.reason,
                "active": not r.final,
                "verdicts": verdicts,
                "lane": {
                    "label": f"#{rid} v{r.spec.version} vs v{r.spec.stable}",
                    "start": start,
                    "end": end,
                    "steps": steps,
                    "marks": [(v["time"], v["outcome"], v["reason"]) for v in verdicts],
                    "final": r.phase,
                },
            }
        )
    return out


# ------------------------------------------------------------------------------------------------------ audit
def audit_rows(entries: Sequence[AuditEntry], *, evidence: bool = True) -> list[dict[str, Any]]:
    """Audit entries, newest first, with their evidence as JSON values (or without it)."""
    return [
        {
            "seq": e.seq,
            "time": e.time.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "subject": e.subject,
            "model": e.model,
            "reason": e.reason,
            **({"evidence": e.evidence_obj} if evidence else {}),
            "hash": e.hash[:12],
        }
        for e in sorted(entries, key=lambda e: -e.seq)
    ]
