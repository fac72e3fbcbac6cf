"""Pictures of state as SVG strings: burn rates on a log scale, an error-budget meter, a traffic plan's split and
the rollout timeline. Pure, like :mod:`modelpilot.ui.svg` (whose formats and palette they share).

Example:
    >>> 'data-weight="25"' in split_bar("v1", "v2", 25.0)
    True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from html import escape
from typing import TypedDict

from modelpilot.ui.svg import PALETTE, clock, empty, number

__all__ = ["OUTCOME_COLOURS", "Lane", "budget_meter", "burn_bars", "split_bar", "timeline"]

OUTCOME_COLOURS = {"pass": "#16a34a", "fail": "#dc2626", "inconclusive": "#94a3b8", "skipped": "#cbd5e1"}


class Lane(TypedDict):
    """One rollout in :func:`timeline`."""

    label: str
    start: float
    end: float
    steps: list[tuple[float, float]]
    """(time, canary weight) at the start and at each change."""
    marks: list[tuple[float, str, str]]
    """(time, outcome, tooltip) of each verdict."""
    final: str
    """The rollout's phase now."""


def _log_scale(value: float, top: float) -> float:
    return math.log1p(max(value, 0.0)) / math.log1p(top)


def burn_bars(
    items: Sequence[tuple[str, float | None]],
    *,
    thresholds: Sequence[tuple[float, str]] = ((1.0, "1x"), (6.0, "6x"), (14.4, "14.4x")),
    title: str = "",
    width: int = 360,
) -> str:
    """Horizontal bars on a log scale (burn rates), with dashed lines at the alerting thresholds.

    >>> svg = burn_bars([("5m", 2.0), ("1h", None)], title="burn")
    >>> svg.count('class="bar'), 'data-points="1"' in svg
    (1, True)
    """
    if not items:
        return empty("bars", title, width, 60)
    left, right, top, row_h = 36, 44, 16, 18
    height = top + row_h * len(items) + 6
    peak = max([20.0, *(v for _, v in items if v is not None)])
    plot_w = width - left - right
    known = sum(1 for _, v in items if v is not None)
    out = [
        f'<svg class="chart bars" data-chart="bars" data-points="{known}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for limit, label in thresholds:
        x = left + _log_scale(limit, peak) * plot_w
        out.append(f'<line class="threshold" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{height - 4}"/>')
        out.append(f'<text class="tick" x="{x:.1f}" y="{top - 6}" text-anchor="middle">{escape(label)}</text>')
    for i, (name, value) in enumerate(items):
        y = top + i * row_h
        out.append(f'<text class="label" x="{left - 6}" y="{y + 12}" text-anchor="end">{escape(name)}</text>')
        if value is None:
            out.append(f'<text class="tick" x="{left + 4}" y="{y + 12}">no events</text>')
            continue
        w = max(_log_scale(value, peak) * plot_w, 1.5)
        level = "critical" if value >= 14.4 else "warning" if value >= 1.0 else "ok"
        out.append(
            f'<rect class="bar {level}" x="{left}" y="{y + 2}" width="{w:.1f}" height="{row_h - 6}" rx="2">'
            f"<title>{escape(name)}: burn rate {escape(number(value))}</title></rect>"
        )
        out.append(f'<text class="value" x="{left + w + 4:.1f}" y="{y + 12}">{escape(number(value))}</text>')
    out.append("</svg>")
    return "".join(out)


def budget_meter(remaining: float, *, width: int = 220, height: int = 14) -> str:
    """The share of an error budget left as a bar (red and empty when overspent).

    >>> 'data-value="0.25"' in budget_meter(0.25), 'overspent' in budget_meter(-2.0)
    (True, True)
    """
    share = min(max(remaining, 0.0), 1.0)
    level = "critical" if remaining <= 0.1 else "warning" if remaining <= 0.5 else "ok"
    label = "overspent" if remaining < 0 else f"{remaining:.0%} left"
    return (
        f'<svg class="meter" data-chart="meter" data-value="{remaining:.4g}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="error budget {escape(label)}"><title>error budget: {escape(label)}</title>'
        f'<rect class="track{" overspent" if remaining < 0 else ""}" x="0" y="0" width="{width}" height="{height}" '
        f'rx="{height / 2}"/>'
        f'<rect class="fill {level}" x="0" y="0" width="{share * width:.1f}" height="{height}" rx="{height / 2}"/>'
        "</svg>"
    )


def split_bar(stable: str, canary: str | None, weight: float, *, width: int = 260, height: int = 18) -> str:
    """A traffic plan's split between its stable and canary versions.

    >>> svg = split_bar("v1", "v2", 25.0)
    >>> 'v2 25%' in svg and 'data-weight="25"' in svg
    True
    """
    share = min(max(weight, 0.0), 100.0) / 100.0 if canary is not None else 0.0
    split = width * (1 - share)
    out = [
        f'<svg class="split" data-chart="split" data-weight="{share * 100:g}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="traffic split"><title>traffic: {escape(stable)} {100 - share * 100:g}%'
        + (f", {escape(canary)} {share * 100:g}%" if canary is not None else "")
        + "</title>",
        f'<rect x="0" y="0" width="{split:.1f}" height="{height}" fill="{PALETTE[0]}"/>',
    ]
    if share > 0:
        out.append(f'<rect x="{split:.1f}" y="0" width="{width - split:.1f}" height="{height}" fill="{PALETTE[1]}"/>')
    out.append(f'<text class="on-dark" x="6" y="{height - 5}">{escape(stable)} {100 - share * 100:g}%</text>')
    if share > 0:
        label = f"{canary} {share * 100:g}%"
        out.append(f'<text class="on-dark" x="{width - 6}" y="{height - 5}" text-anchor="end">{escape(label)}</text>')
    out.append("</svg>")
    return "".join(out)


def timeline(lanes: Sequence[Lane], *, width: int = 1240, lane_h: int = 62) -> str:
    """Rollouts as lanes: the canary weight over time as a step line, one dot per verdict coloured by outcome.

    Each lane (a :class:`Lane`) has its own time scale: rollouts of one model may be days apart.

    >>> lane = Lane(label="#1 v2", start=0.0, end=4.0, steps=[(0.0, 50.0), (4.0, 0.0)],
    ...             marks=[(4.0, "fail", "verdict fail")], final="rolled_back")
    >>> svg = timeline([lane])
    >>> svg.count('class="verdict fail"'), 'data-lanes="1"' in svg
    (1, True)
    """
    if not lanes:
        return empty("timeline", "rollouts", width, 60, "no rollouts yet")
    left, right = 170, 110
    height = lane_h * len(lanes) + 4
    plot_w = width - left - right
    out = [
        f'<svg class="chart timeline" data-chart="timeline" data-lanes="{len(lanes)}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="rollout timeline"><title>rollout timeline</title>'
    ]
    for i, lane in enumerate(lanes):
        top = i * lane_h + 4
        start, end = lane["start"], max(lane["end"], lane["start"] + 1.0)
        steps, marks = lane["steps"], lane["marks"]
        base, span = top + lane_h - 18, lane_h - 30

        def px(t: float, start: float = start, end: float = end) -> float:
            return left + (min(max(t, start), end) - start) / (end - start) * plot_w

        def py(weight: float, base: float = base, span: float = span) -> float:
            return base - weight / 100.0 * span

        out.append(f'<g class="lane" data-points="{len(marks)}">')
        out.append(f'<text class="label" x="{left - 44}" y="{base - span / 2 + 4:.1f}" text-anchor="end">')
        out.append(f"{escape(lane['label'])}</text>")
        out.append(f'<line class="axis" x1="{left}" x2="{left + plot_w}" y1="{base}" y2="{base}"/>')
        out.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{py(100):.1f}" y2="{py(100):.1f}"/>')
        out.append(f'<text class="tick" x="{left - 4}" y="{py(100) + 4:.1f}" text-anchor="end">100%</text>')
        if steps:
            d = [f"M{px(steps[0][0]):.1f},{py(steps[0][1]):.1f}"]
            for (_, w_before), (t, w) in itertools.pairwise(steps):
                d.append(f"L{px(t):.1f},{py(w_before):.1f} L{px(t):.1f},{py(w):.1f}")
            d.append(f"L{px(end):.1f},{py(steps[-1][1]):.1f}")
            out.append(f'<path d="{" ".join(d)}" fill="none" stroke="{PALETTE[1]}" stroke-width="2"/>')
            shown = -1.0
            for t, w in steps:
                if w != shown and 0 < w < 100:
                    out.append(f'<text class="tick" x="{px(t) + 4:.1f}" y="{py(w) - 5:.1f}">{w:g}%</text>')
                shown = w
        for t, outcome, tip in marks:
            colour = OUTCOME_COLOURS.get(outcome, "#64748b")
            weight = next((w for s, w in reversed(steps) if s < t), steps[0][1] if steps else 0.0)
            out.append(
                f'<circle class="verdict {escape(outcome)}" cx="{px(t):.1f}" cy="{py(weight):.1f}" r="5" '
                f'fill="{colour}" stroke="#fff" stroke-width="1.5"><title>{escape(tip)}</title></circle>'
            )
        out.append(f'<text class="tick" x="{left}" y="{base + 13}">{escape(clock(start))}</text>')
        out.append(
            f'<text class="tick" x="{left + plot_w}" y="{base + 13}" text-anchor="end">{escape(clock(end))}</text>'
        )
        final = lane["final"]
        out.append(
            f'<text class="phase {escape(final)}" x="{left + plot_w + 10}" y="{base - span / 2 + 4:.1f}">'
            f"{escape(final.replace('_', ' '))}</text>"
        )
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)
