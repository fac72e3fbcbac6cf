"""Whole pages: the overview of every model, and one model's page laid out from its sections.

Each page is rendered complete on the server (it reads well without scripts) and names the JSON endpoint its
script polls; the endpoint's ``?view=html`` answer carries the same sections, freshly drawn.

Example:
    >>> html = overview_page({"models": []})
    >>> "No models registered yet" in html and 'data-poll="/ui/api/overview?view=html"' in html
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from modelpilot.ui import figures, sections, svg
from modelpilot.ui.html import badge, esc, model_url, page, section, table, when

__all__ = ["model_page", "overview_page", "overview_sections"]

Data = Mapping[str, Any]


def _card(m: Data) -> str:
    plan = m.get("plan")
    if plan is None:
        traffic = '<p class="muted">not served: no traffic plan</p>'
    else:
        canary = None if plan.get("canary") is None else f"v{plan['canary']}"
        shadows = ", ".join(f"v{s['version']}" for s in plan.get("shadows", []))
        traffic = figures.split_bar(f"v{plan['stable']}", canary, plan.get("weight", 0)) + (
            f'<p class="muted">shadows: {esc(shadows)}</p>' if shadows else ""
        )
    aliases = " ".join(badge(f"{a} v{v}", "muted") for a, v in sorted(m.get("aliases", {}).items()))
    rollout = m.get("rollout")
    rollout_html = (
        f"<p>rollout #{rollout['id']}: v{rollout['version']} {badge(rollout['phase'], 'info')} at "
        f"{rollout['weight']:g}%</p>"
        if rollout
        else ""
    )
    alarms = "".join(
        f"<li>{badge(a['severity'])} {esc(a['kind'])} on v{a['version']} {esc(a['variant'])}: "
        f"{esc(', '.join(list(a['subjects'])[:4]))}</li>"
        for a in m.get("alarms", [])
    )
    slo_rows = "".join(
        f'<li><span class="slo-name">{esc(s["name"])}</span>{figures.budget_meter(s["budget_remaining"], width=120)}'
        f'<span class="pct">{s["budget_remaining"] * 100:.0f}%</span><span>'
        + "".join(badge(k, "critical" if k == "page" else "warning") for k in s["firing"])
        + "</span></li>"
        for s in m.get("slos", [])
    )
    rate = m.get("rate", [])
    now = rate[-1][1] if rate else None
    spark = svg.sparkline([r[1] for r in rate[-60:]])
    return (
        f'<article class="model card" data-model="{esc(m["name"])}">'
        f'<header><h2><a href="{model_url(m["name"])}">{esc(m["name"])}</a></h2>{badge(m["health"])}</header>'
        f'<p class="muted">{esc(m.get("description") or "")} - {m["versions"]} version(s) {aliases}</p>'
        f'<div class="k">traffic plan</div>{traffic}{rollout_html}'
        f'<div class="rate"><span class="k">requests/s</span><span class="big">{svg.number(now)}</span>{spark}'
        f'<span class="muted">{m.get("requests", 0):.0f} since start</span></div>'
        + (f'<div class="k">alarms in force</div><ul class="alarms">{alarms}</ul>' if alarms else "")
        + (f'<div class="k">SLO budgets</div><ul class="slos">{slo_rows}</ul>' if slo_rows else "")
        + "</article>"
    )


def _backlog(b: dict[str, float] | None) -> str:
    """Events on their way to the monitor (in memory, spilled to disk) and dropped, in this process."""
    if not b:
        return ""
    level = "critical" if b["dropped"] else "warning" if b["disk"] else "ok"
    return (
        f' <span class="backlog" title="events waiting for the monitor in this process">event backlog: '
        f"{b['memory']:.0f} in memory, {b['disk']:.0f} on disk</span> " + badge(f"{b['dropped']:.0f} dropped", level)
    )


def overview_sections(d: Data) -> dict[str, str]:
    """The overview's live sections."""
    models = d.get("models", [])
    counts = {level: sum(1 for m in models if m["health"] == level) for level in ("ok", "warning", "critical")}
    summary = (
        f'<div class="summary"><span class="big">{len(models)}</span> model(s): '
        + " ".join(badge(f"{n} {level}", level) for level, n in counts.items() if n)
        + _backlog(d.get("backlog"))
        + "</div>"
    )
    cards = "".join(_card(m) for m in models) or (
        '<p class="empty">No models registered yet: <code>modelpilot register NAME ARTIFACT ...</code></p>'
    )
    alarms = [
        [
            when(a["time"]),
            f'<a href="{model_url(a["model"])}">{esc(a["model"])}</a>',
            f"v{a['version']} {esc(a['variant'])}",
            esc(a["kind"]),
            esc(a["transition"]),
            badge(a["severity"] or "resolved", a["severity"] or "ok"),
        ]
        for a in d.get("alarms", [])
    ]
    changes = [
        [
            esc(c["time"][11:19]),
            esc(c["model"] or "-"),
            f"<strong>{esc(c['action'])}</strong>",
            esc(c["actor"]),
            f'<span class="text">{esc(c["reason"])}</span>',
        ]
        for c in d.get("changes", [])
    ]
    return {
        "summary": summary,
        "models": f'<div class="cards">{cards}</div>',
        "alarms": table(["time", "model", "series", "kind", "transition", "severity"], alarms, empty="no alarms yet"),
        "changes": table(["time", "model", "action", "actor", "reason"], changes, empty="no changes yet"),
    }


def overview_page(d: Data, *, user: str | None = None) -> str:
    """The overview."""
    parts = overview_sections(d)
    names = [m["name"] for m in d.get("models", [])]
    body = (
        '<div class="title"><h1>Models</h1>'
        f'<div data-section="summary">{parts["summary"]}</div></div>'
        f'<div data-section="models">{parts["models"]}</div>'
        '<div class="layout below">'
        + section("alarms", "Recent alarms", parts["alarms"], note="alarm transitions of every model, newest first")
        + section("changes", "Recent changes", parts["changes"], note="the audit log of every model, newest first")
        + "</div>"
    )
    return page("Overview", body, poll="/ui/api/overview?view=html", models=names, user=user)


_LAYOUT: Sequence[tuple[str, str, bool, str]] = (
    ("traffic", "Traffic", True, "per version and variant, sampled every 2 s since the dashboard was first opened"),
    ("drift", "Drift", True, "population stability index of each input and output, per monitor window"),
    ("performance", "Performance", False, ""),
    ("quality", "Data quality", False, ""),
    ("slos", "SLOs and error budgets", False, ""),
    ("alarms", "Alarms", False, ""),
    ("rollouts", "Rollouts and canary verdicts", True, ""),
    ("changes", "Traffic-plan changes", False, ""),
    ("decisions", "Remediation decisions", False, ""),
    ("audit", "Audit log", True, "newest first; open an entry for its evidence"),
)


def model_page(d: Data, *, models: Sequence[str] = (), user: str | None = None) -> str:
    """One model's page."""
    parts = sections.render(d)
    name = d["name"]
    links = "".join(f'<a href="#{key}">{esc(title)}</a>' for key, title, _, _ in _LAYOUT)
    body = (
        f'<div class="title"><h1>{esc(name)}</h1><p class="muted">{esc(d.get("description") or "")}</p></div>'
        f'<div class="card wide head" data-section="head">{parts["head"]}</div>'
        f'<nav class="jump">{links}</nav><div class="layout">'
        + "".join(section(key, title, parts[key], wide=wide, note=note) for key, title, wide, note in _LAYOUT)
        + "</div>"
    )
    return page(
        name, body, poll=f"/ui/api/models/{quote(name, safe='')}?view=html", models=models, current=name, user=user
    )
