"""The model page's sections as HTML, from the dict :func:`modelpilot.ui.data.model_detail` returns: the header
(plan, versions, health), traffic, drift, data quality, performance, SLOs and alarms; the history sections
(rollouts, plan changes, decisions, audit log) are in :mod:`modelpilot.ui.history`.

Example:
    >>> html = render({"name": "m", "traffic": {"series": [], "rows": []}})
    >>> sorted(html)[:3]
    ['alarms', 'audit', 'changes']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from modelpilot.ui import figures, history, svg
from modelpilot.ui.html import badge, esc, figure, table, text, when

__all__ = ["SECTIONS", "render"]

Data = Mapping[str, Any]


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _colours(names: Sequence[str]) -> dict[str, str]:
    return {name: svg.PALETTE[i % len(svg.PALETTE)] for i, name in enumerate(sorted(names))}


def _by_position(times: Sequence[float]) -> Callable[[float], str]:
    """An x-axis label for a window position: the time that window closed."""

    def label(x: float) -> str:
        return svg.clock(times[min(max(round(x), 0), len(times) - 1)]) if times else ""

    return label


def head(d: Data) -> str:
    """Health, traffic plan, versions, active rollout, freeze."""
    plan = d.get("plan")
    parts = [f'<div class="facts"><div><span class="k">health</span>{badge(d.get("health", "ok"))}</div>']
    if plan is None:
        parts.append('<div><span class="k">traffic</span><span class="muted">not served (no traffic plan)</span></div>')
    else:
        canary = None if plan.get("canary") is None else f"v{plan['canary']}"
        split = figures.split_bar(f"v{plan['stable']}", canary, plan.get("weight", 0))
        parts.append(f'<div><span class="k">traffic</span>{split}</div>')
        shadows = ", ".join(f"v{s['version']} ({s['rate'] * 100:g}%)" for s in plan.get("shadows", []))
        if shadows:
            parts.append(f'<div><span class="k">shadows</span>{esc(shadows)}</div>')
        sticky = plan.get("sticky_header") or plan.get("sticky_field")
        if sticky:
            parts.append(f'<div><span class="k">sticky key</span><code>{esc(sticky)}</code></div>')
    active = [r for r in d.get("rollouts", []) if r["active"]]
    if active:
        r = active[0]
        parts.append(
            f'<div><span class="k">rollout</span>#{r["id"]} v{r["version"]} {badge(r["phase"], "info")} '
            f"at {r['weight']:g}%</div>"
        )
    if d.get("frozen"):
        parts.append(f'<div><span class="k">rollouts</span>{badge("frozen", "warning")} {esc(d["frozen"])}</div>')
    rows = (d.get("traffic") or {}).get("rows", [])
    rate = sum(r["rate"] or 0.0 for r in rows) if rows else None
    parts.append(f'<div><span class="k">requests / s</span><span class="big">{svg.number(rate)}</span></div>')
    alarms = (d.get("alarms") or {}).get("active", [])
    levels = " ".join(badge(f"{a['kind']} v{a['version']}", a["severity"]) for a in alarms) or badge("none", "ok")
    parts.append(f'<div><span class="k">alarms in force</span>{levels}</div>')
    firing = [f"{s['name']} {k}" for s in d.get("slos", []) for k in s["firing"]]
    alerts = " ".join(badge(f, "critical" if f.endswith("page") else "warning") for f in firing)
    if d.get("slos"):
        parts.append(f'<div><span class="k">SLO alerts</span>{alerts or badge("none firing", "ok")}</div>')
    parts.append("</div>")
    chips = []
    for v in d.get("versions", []):
        extra = "".join(badge(a, "muted") for a in v["aliases"])
        role = badge(v["role"], "info") if v.get("role") else ""
        chips.append(
            f'<li><strong>v{v["version"]}</strong> {role}{extra}<span class="muted">{esc(v["format"])}'
            f"{' - ' + esc(v['description']) if v['description'] else ''}</span></li>"
        )
    parts.append(f'<ul class="versions">{"".join(chips)}</ul>')
    return "".join(parts)


def traffic(d: Data) -> str:
    """Request rate, p95 latency and error share per version and variant, and the totals since start."""
    t = d.get("traffic") or {}
    names = t.get("series", [])
    colours = _colours(names)
    order = [colours[n] for n in names]
    times = [p[0] for key in ("rate", "p95_ms", "error_pct") for s in t.get(key, []) for p in s["points"]]
    span = (min(times), max(times)) if times else None
    charts = []
    for key, title, fmt in (
        ("rate", "requests / s", svg.number),
        ("p95_ms", "p95 latency (ms)", svg.number),
        ("error_pct", "errors (% of requests)", svg.number),
    ):
        series = [(s["name"], [(p[0], p[1]) for p in s["points"]]) for s in t.get(key, [])]
        chart = svg.line_chart(series, colors=order, title=title, y_format=fmt, width=420, x_range=span)
        charts.append(figure(title, chart))
    rows = [
        [
            f"{svg.dot(colours[r['series']])}{esc(r['series'])}",
            svg.number(r["rate"]),
            f"{r['requests']:.0f}",
            f"{r['errors']:.0f}",
            _pct(r["error_ratio"], 2),
            _ms(r["mean_latency_s"]),
            _ms(r["p95_latency_s"]),
        ]
        for r in t.get("rows", [])
    ]
    return f'<div class="charts three">{"".join(charts)}</div>{svg.legend(names, order)}' + table(
        ["series", "req/s now", "requests", "5xx", "error share", "mean latency", "p95 latency"],
        rows,
        empty="no requests since this server started",
    )


def drift(d: Data) -> str:
    """The heatmap of drift (PSI) by column and window."""
    m = d.get("drift") or {}
    drifted = m.get("drifted", [])
    note = (
        f"<p>Drifting in the last windows: {' '.join(badge(c, 'critical') for c in drifted)}</p>"
        if drifted
        else '<p class="muted">No column drifts in the last three windows.</p>'
    )
    chart = svg.heatmap(
        m.get("rows", []),
        m.get("columns", []),
        m.get("psi", []),
        marks=m.get("severity", []),
        tips=m.get("tips", []),
        title="drift by column and window (PSI)",
    )
    return note + chart


def quality(d: Data) -> str:
    """Data-quality findings by column, and the share of flagged rows per window."""
    q = d.get("quality") or {}
    rows = [
        [
            f"<code>{esc(f['column'])}</code>",
            badge(f["severity"]),
            esc(f.get("worst") or "-"),
            text(", ".join(f"{k} {_pct(v)}" for k, v in f.get("ratios", {}).items()) or "-"),
            str(f["windows"]),
            esc(f.get("last", "")),
        ]
        for f in q.get("findings", [])
    ]
    by_series: dict[str, list[tuple[float, float | None]]] = {}
    for p in q.get("flagged", []):
        by_series.setdefault(p["series"], []).append((p["x"], p["share"] * 100))
    names = sorted(by_series)
    colours = [_colours(names)[n] for n in names]
    chart = svg.line_chart(
        [(n, by_series[n]) for n in names],
        colors=colours,
        title="rows flagged (%)",
        markers=True,
        x_format=_by_position(q.get("times", [])),
    )
    unknown = q.get("unknown_columns") or {}
    extra = (
        f'<p class="note">Inputs not in the signature: {esc(", ".join(f"{k} ({v})" for k, v in unknown.items()))}</p>'
        if unknown
        else ""
    )
    return (
        table(
            ["column", "severity", "worst", "share of rows", "windows", "last"],
            rows,
            empty="no data-quality findings in the last windows",
        )
        + figure("rows with a finding (% of each window)", chart, svg.legend(names, colours))
        + extra
    )


def performance(d: Data) -> str:
    """Estimated against realized performance over time."""
    p = d.get("performance") or {}
    metric = p.get("metric")
    series = p.get("series", [])
    bases = sorted({s["name"].rsplit(" ", 1)[0] for s in series})
    base_colour = _colours(bases)
    colours = [base_colour[s["name"].rsplit(" ", 1)[0]] for s in series]
    dashed = [s["kind"] == "estimated" for s in series]
    chart = svg.line_chart(
        [(s["name"], [(x, y) for x, y in s["points"]]) for s in series],
        colors=colours,
        dashed=dashed,
        markers=True,
        y_min=None,
        x_format=_by_position(p.get("times", [])),
        title=f"{metric or 'performance'} window by window",
        y_format=lambda v: "-" if v is None else f"{v:.2f}",
    )
    rows = [
        [
            f"v{r['version']} {esc(r['variant'])}",
            "-" if r.get("estimated") is None else f"{r['estimated']:.3f}",
            "-" if r.get("realized") is None else f"{r['realized']:.3f}",
            "-" if "within" not in r else badge("agree", "ok") if r["within"] else badge("differ", "warning"),
            str(r.get("labeled", 0)),
        ]
        for r in p.get("latest", [])
    ]
    return figure(
        f"{metric or 'metric'} per window: estimated (dashed, needs no labels) and realized (from labels)",
        chart,
        svg.legend([s["name"] for s in series], colours, dashed),
    ) + table(["series", "estimated", "realized", "reconciled", "labels"], rows, empty="no windows yet")


def slos(d: Data) -> str:
    """Each SLO's budget left and burn rate per window."""
    out = []
    for s in d.get("slos", []):
        firing = " ".join(
            f'<span class="firing">{badge(f"{k} alert", "critical" if k == "page" else "warning")}since {when(v)}'
            "</span>"
            for k, v in s["firing"].items()
        )
        bars = figures.burn_bars(list(s["burn_rates"].items()), title=f"{s['slo']} burn rates")
        remaining = s["budget_remaining"]
        out.append(
            f'<div class="slo"><div class="slo-head"><strong>{esc(s["name"])}</strong>'
            f'<span class="muted">{esc(s["kind"]) + " - " if s["kind"] != s["name"] else ""}objective '
            f"{s['objective']:g}% over {esc(s['period'])}</span>"
            f"{firing or badge('ok')}</div>"
            f'<div class="slo-body"><div><span class="k">error budget</span>{figures.budget_meter(remaining)}'
            f'<span class="big">{_pct(remaining, 0)}</span><span class="muted"> left</span>'
            f'<div class="muted">SLI over the period {_pct(s["sli"].get("period"), 3)}, '
            f"{s['events'].get('period', 0):.0f} events</div></div>"
            f'<div><span class="k">burn rate by window (log scale)</span>{bars}</div></div></div>'
        )
    return "".join(out) or '<p class="empty">no SLOs for this model (start the server with --slo FILE)</p>'


def alarms(d: Data) -> str:
    """Active alarms and the recent transitions."""
    a = d.get("alarms") or {}

    def subjects(s: Mapping[str, str]) -> str:
        return " ".join(f'<code class="{esc(v)}">{esc(k)}</code>' for k, v in s.items())

    active = "".join(
        f"<li>{badge(x['severity'] or 'ok')} <strong>{esc(x['kind'])}</strong> on v{x['version']} "
        f"{esc(x['variant'])} since window {x['window']}: {subjects(x['subjects'])}</li>"
        for x in a.get("active", [])
    )
    head = f'<ul class="active">{active}</ul>' if active else '<p class="ok-note">No alarm in force.</p>'
    rows = [
        [
            when(x["time"]),
            f"v{x['version']} {esc(x['variant'])}",
            esc(x["kind"]),
            esc(x["transition"]),
            badge(x["severity"] or "resolved", x["severity"] or "ok"),
            f'<span class="text">{subjects(x["subjects"])}</span>',
        ]
        for x in a.get("history", [])[:15]
    ]
    return head + table(["time", "series", "kind", "transition", "severity", "columns"], rows, empty="no alarms yet")


SECTIONS: dict[str, Callable[[Data], str]] = {
    "head": head,
    "traffic": traffic,
    "drift": drift,
    "performance": performance,
    "quality": quality,
    "slos": slos,
    "alarms": alarms,
    "rollouts": history.rollouts,
    "changes": history.changes,
    "decisions": history.decisions,
    "audit": history.audit,
}
"""Section key to the function drawing it."""


def render(d: Data) -> dict[str, str]:
    """Every section's HTML."""
    return {key: draw(d) for key, draw in SECTIONS.items()}
