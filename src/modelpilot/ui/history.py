"""The model page's history sections as HTML: rollouts with every verdict and its checks, traffic-plan changes,
remediation decisions, and the audit log whose entries open to their evidence.

Example:
    >>> audit({"audit": []})
    '<p class="empty">no audit entries for this model</p>'
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from modelpilot.ui import figures, svg
from modelpilot.ui.html import badge, esc, figure, table, text, when

__all__ = ["audit", "changes", "decisions", "rollouts"]

Data = Mapping[str, Any]


def _stats(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {svg.number(v) if isinstance(v, int | float) else esc(v)}" for k, v in values.items())


def rollouts(d: Data) -> str:
    """The rollout timeline and every verdict with its checks."""
    items = d.get("rollouts", [])
    lanes = [r["lane"] for r in items]
    out = [
        figure(
            "canary weight over time; each dot is a verdict (green pass, red fail, grey inconclusive)",
            figures.timeline(lanes),
        )
    ]
    for r in items:
        verdicts = []
        for v in reversed(r["verdicts"]):
            checks = [
                [
                    esc(c["name"]),
                    badge(c["outcome"]),
                    text(c["reason"]),
                    f'<span class="stats">{_stats(c["statistics"])}</span>',
                    f'<span class="stats">{_stats(c["samples"])}</span>',
                ]
                for c in v["checks"]
            ]
            event = f" &rarr; {esc(v['event'].replace('_', ' '))}" if v.get("event") else ""
            weight = "" if v.get("weight") is None else f" at {v['weight']:g}%"
            failed = [c["name"] for c in v["checks"] if c["outcome"] == "fail"]
            passed = [c["name"] for c in v["checks"] if c["outcome"] == "pass"]
            gist = f"failed: {', '.join(failed)}" if failed else f"passed: {', '.join(passed)}" if passed else ""
            verdicts.append(
                f'<details class="verdict" data-key="verdict-{v["seq"]}"><summary>{badge(v["outcome"])}'
                f'<span>{when(v["time"])}{weight}{event}</span><span class="muted">{esc(gist)}</span>'
                f'<span class="muted right">{esc(v.get("analysis") or "")} analysis, '
                f"{v.get('interval_s') or 0:.1f} s of traffic</span></summary>"
                + table(["check", "outcome", "reason", "statistics", "samples"], checks)
                + "</details>"
            )
        out.append(
            f'<div class="rollout"><h3>Rollout #{r["id"]}: v{r["version"]} against v{r["stable"]} '
            f"{badge(r['phase'].replace('_', ' '), _phase_level(r['phase']))}</h3>"
            f'<p class="muted">steps {esc(", ".join(f"{w:g}%" for w in r["steps"]))}, a verdict every '
            f"{r['interval_s']:g} s; started {when(r['started'], date=True)}</p>"
            + ("".join(verdicts) or '<p class="empty">no verdict yet</p>')
            + "</div>"
        )
    return "".join(out)


def _phase_level(phase: str) -> str:
    return {"promoted": "ok", "rolled_back": "critical", "aborted": "warning", "paused": "warning"}.get(phase, "info")


def changes(d: Data) -> str:
    """Recent traffic-plan changes."""
    rows = []
    for c in d.get("plan_changes", []):
        plan = c.get("plan") or {}
        split = f"v{plan.get('stable')}"
        if plan.get("canary") is not None:
            split += f" + v{plan['canary']} at {plan.get('weight', 0):g}%"
        changed = datetime.fromisoformat(c["changed_at"]).timestamp()
        rows.append(
            [f"#{c['revision']}", when(changed), esc(c["kind"]), esc(split), esc(c["actor"]), text(c["reason"])]
        )
    return table(["revision", "time", "kind", "plan", "actor", "reason"], rows, empty="no plan changes")


def decisions(d: Data) -> str:
    """Remediation decisions."""
    rows = [
        [f"#{x['id']}", when(x["created"]), text(x["rule"]), esc(x["action"]), badge(x["status"], "info")]
        for x in d.get("decisions", [])
    ]
    return table(["id", "time", "rule", "action", "status"], rows, empty="no remediation decisions")


def audit(d: Data) -> str:
    """The audit log, newest first; each entry opens to its evidence."""
    out = []
    for e in d.get("audit", []):
        evidence = orjson.dumps(e["evidence"], option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
        out.append(
            f'<details class="entry" data-key="audit-{e["seq"]}"><summary><span class="seq">#{e["seq"]}</span>'
            f'<span class="time">{esc(e["time"][:19].replace("T", " "))}</span>'
            f'<span class="action">{esc(e["action"])}</span><span class="actor">{esc(e["actor"])}</span>'
            f'<span class="reason">{esc(e["reason"])}</span></summary>'
            f'<div class="evidence"><p class="muted">subject <code>{esc(e["subject"])}</code>, hash '
            f"<code>{esc(e['hash'])}</code></p><pre>{esc(evidence)}</pre></div></details>"
        )
    return "".join(out) or '<p class="empty">no audit entries for this model</p>'
