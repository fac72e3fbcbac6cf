"""Charts of series as SVG strings: line charts, sparklines and a heatmap, and the helpers every picture shares
(number and time formats, tick values, the empty chart); pictures of state are in :mod:`modelpilot.ui.figures`.
Pure: numbers in, markup out; every text is escaped; no scripts, no inline styles (the page's
Content-Security-Policy forbids both), colours as presentation attributes and the rest from the page's CSS classes.

Each chart's root carries ``data-chart`` (its kind) and each drawn series ``data-points`` (how many values it
shows), so a test or a person can tell an empty chart from one with data.

Example:
    >>> svg = line_chart([("v1 stable", [(0.0, 1.0), (10.0, 3.0)])], colors=["#2563eb"], title="requests/s")
    >>> svg.startswith('<svg') and 'data-chart="line"' in svg and 'data-points="2"' in svg
    True
    >>> 'no data yet' in line_chart([], title="requests/s")
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from html import escape

__all__ = [
    "PALETTE",
    "clock",
    "dot",
    "empty",
    "heat_colour",
    "heatmap",
    "legend",
    "line_chart",
    "nice_ticks",
    "number",
    "sparkline",
]

PALETTE = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#0891b2", "#ca8a04", "#db2777", "#475569")
"""Series colours, distinguishable on white and for the common colour-vision deficiencies (blue/orange first)."""

_HEAT = (  # PSI bins: upper bound and colour; 0.1 and 0.25 are the drift rule's warning and critical defaults
    (0.05, "#eef2f7"),
    (0.10, "#fde7c7"),
    (0.25, "#fbbf77"),
    (0.50, "#f0743c"),
    (math.inf, "#b91c1c"),
)

Point = tuple[float, float | None]
Series = tuple[str, Sequence[Point]]


def number(value: float | None) -> str:
    """A short, readable number.

    >>> number(0.000123), number(0.5), number(12.345), number(1234.0), number(2_500_000), number(None)
    ('0.000123', '0.5', '12.3', '1.23k', '2.5M', '-')
    """
    if value is None or value != value:
        return "-"
    a = abs(value)
    if a >= 1e6:
        return f"{value / 1e6:.3g}M"
    if a >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}"


def clock(seconds: float) -> str:
    """Epoch seconds as UTC ``HH:MM:SS``.

    >>> clock(3661.0)
    '01:01:01'
    """
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values covering ``[lo, hi]`` (about ``count`` of them).

    >>> nice_ticks(0, 0.93)
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> nice_ticks(0, 37)
    [0.0, 10.0, 20.0, 30.0, 40.0]
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(lo / step) * step
    n = math.ceil((hi - first) / step - 1e-9)
    return [round(first + i * step, 10) + 0.0 for i in range(n + 1)]


def empty(kind: str, title: str, width: int, height: int, message: str = "no data yet") -> str:
    return (
        f'<svg class="chart" data-chart="{kind}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<text class="empty" x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle">{escape(message)}</text>'
        "</svg>"
    )


def line_chart(
    series: Sequence[Series],
    *,
    colors: Sequence[str] = PALETTE,
    title: str = "",
    width: int = 560,
    height: int = 180,
    x_format: Callable[[float], str] = clock,
    y_format: Callable[[float | None], str] = number,
    y_min: float | None = 0.0,
    y_max: float | None = None,
    markers: bool = False,
    dashed: Sequence[bool] = (),
    x_range: tuple[float, float] | None = None,
) -> str:
    """Lines over a shared x axis (time by default); ``None`` values leave a gap.

    ``dashed[i]`` draws series ``i`` dashed (estimates next to measured values, say); ``markers`` adds a dot per
    value (for sparse series such as monitor windows); ``x_range`` fixes the x axis (to line up several charts).

    >>> svg = line_chart([("a", [(0, 1), (1, None), (2, 3)])], title="t", markers=True)
    >>> svg.count("<circle"), 'data-points="2"' in svg
    (2, True)
    """
    drawn = [(name, [(x, y) for x, y in pts if y is not None and math.isfinite(y)]) for name, pts in series]
    values = [p for _, pts in drawn for p in pts]
    if not values:
        return empty("line", title, width, height)
    left, right, top, bottom = 46, 10, 10, 22
    xs = [x for x, _ in values]
    ys = [y for _, y in values]
    x0, x1 = (min(xs), max(xs)) if x_range is None else (min(x_range[0], *xs), max(x_range[1], *xs))
    if x1 <= x0:
        x0, x1 = x0 - 1, x1 + 1
    lo = min(ys) if y_min is None else min(y_min, min(ys))
    hi = max(ys) if y_max is None else y_max
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    ticks = nice_ticks(lo, hi)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (y - lo) / (hi - lo) * plot_h

    out = [
        f'<svg class="chart" data-chart="line" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for t in ticks:
        y = py(t)
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{left - 6}" y="{y + 3:.1f}" text-anchor="end">{escape(y_format(t))}</text>')
    for i in range(4):
        x = x0 + (x1 - x0) * i / 3
        anchor = "start" if i == 0 else "end" if i == 3 else "middle"
        out.append(
            f'<text class="tick" x="{px(x):.1f}" y="{height - 6}" text-anchor="{anchor}">{escape(x_format(x))}</text>'
        )
    out.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    for i, (name, pts) in enumerate(drawn):
        colour = colors[i % len(colors)]
        dash = ' stroke-dasharray="5 4"' if i < len(dashed) and dashed[i] else ""
        out.append(f'<g class="series" data-series="{escape(name)}" data-points="{len(pts)}">')
        segments = _segments(series[i][1])
        for segment in segments:
            if len(segment) > 1:
                d = " ".join(f"{'M' if j == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for j, (x, y) in enumerate(segment))
                out.append(f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        for x, y in pts:
            if markers or all(len(s) == 1 for s in segments):
                out.append(
                    f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.8" fill="{colour}">'
                    f"<title>{escape(name)}: {escape(y_format(y))} at {escape(x_format(x))}</title></circle>"
                )
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _segments(points: Sequence[Point]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive finite values."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None or not math.isfinite(y):
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [r for r in runs if r]


def legend(names: Sequence[str], colors: Sequence[str] = PALETTE, dashed: Sequence[bool] = ()) -> str:
    """An HTML legend (wraps with the page; swatches are tiny SVGs, so no inline styles are needed).

    >>> legend(["v1 stable"]).count("<li>")
    1
    """
    items = []
    for i, name in enumerate(names):
        colour = colors[i % len(colors)]
        dash = ' stroke-dasharray="3 2"' if i < len(dashed) and dashed[i] else ""
        items.append(
            f'<li><svg class="swatch" viewBox="0 0 14 8" aria-hidden="true"><line x1="0" y1="4" x2="14" y2="4" '
            f'stroke="{colour}" stroke-width="3"{dash}/></svg>{escape(name)}</li>'
        )
    return f'<ul class="legend">{"".join(items)}</ul>'


def dot(colour: str) -> str:
    """A small filled circle (a series' colour next to its name).

    >>> dot("#2563eb")
    '<svg class="dot" viewBox="0 0 10 10" aria-hidden="true"><circle cx="5" cy="5" r="5" fill="#2563eb"/></svg>'
    """
    circle = f'<circle cx="5" cy="5" r="5" fill="{escape(colour)}"/>'
    return f'<svg class="dot" viewBox="0 0 10 10" aria-hidden="true">{circle}</svg>'


def sparkline(values: Sequence[float | None], *, color: str = PALETTE[0], width: int = 120, height: int = 28) -> str:
    """A small trend line without axes.

    >>> 'data-points="3"' in sparkline([1.0, 2.0, 1.5])
    True
    """
    pts = [(float(i), v) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if len(pts) < 2:
        return f'<svg class="spark" data-chart="spark" data-points="{len(pts)}" viewBox="0 0 {width} {height}"></svg>'
    hi = max(v for _, v in pts) or 1.0
    n = max(len(values) - 1, 1)
    d = " ".join(
        f"{'M' if j == 0 else 'L'}{x / n * (width - 2) + 1:.1f},{height - 2 - v / hi * (height - 4):.1f}"
        for j, (x, v) in enumerate(pts)
    )
    return (
        f'<svg class="spark" data-chart="spark" data-points="{len(pts)}" viewBox="0 0 {width} {height}" '
        f'aria-hidden="true"><path d="{d}" fill="none" stroke="{color}" stroke-width="1.8"/></svg>'
    )


def heat_colour(value: float | None) -> str:
    """The cell colour of a PSI value (grey when the column was not judged).

    >>> heat_colour(0.02), heat_colour(0.3), heat_colour(None)
    ('#eef2f7', '#f0743c', '#e2e8f0')
    """
    if value is None or value != value:
        return "#e2e8f0"
    return next(colour for bound, colour in _HEAT if value < bound)


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float | None]],
    *,
    marks: Sequence[Sequence[str | None]] = (),
    tips: Sequence[Sequence[str]] = (),
    title: str = "",
    width: int = 1240,
) -> str:
    """A rows x columns grid coloured by value (PSI bins); ``marks`` outlines cells (``warning``/``critical``).

    >>> svg = heatmap(["income"], ["w1", "w2"], [[0.01, 0.4]], marks=[[None, "critical"]], title="drift")
    >>> svg.count('class="cell'), 'data-cells="2"' in svg, 'cell critical' in svg
    (2, True, True)
    """
    if not rows or not columns:
        return empty("heatmap", title, width, 120)
    left, top, bottom = 150, 6, 44
    cell_h = 20
    cell_w = max(6.0, min(48.0, (width - left - 8) / len(columns)))
    height = top + cell_h * len(rows) + bottom
    out = [
        f'<svg class="chart heat" data-chart="heatmap" data-cells="{len(rows) * len(columns)}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for r, row in enumerate(rows):
        y = top + r * cell_h
        out.append(f'<text class="label" x="{left - 8}" y="{y + 14}" text-anchor="end">{escape(row[:22])}</text>')
        for c in range(len(columns)):
            value = values[r][c] if c < len(values[r]) else None
            mark = marks[r][c] if r < len(marks) and c < len(marks[r]) else None
            tip = tips[r][c] if r < len(tips) and c < len(tips[r]) else f"{row} {columns[c]}: {number(value)}"
            cls = f"cell {mark}" if mark else "cell"
            out.append(
                f'<rect class="{cls}" x="{left + c * cell_w:.1f}" y="{y}" width="{cell_w - 1.5:.1f}" '
                f'height="{cell_h - 2}" rx="2" fill="{heat_colour(value)}"><title>{escape(tip)}</title></rect>'
            )
    every = max(1, math.ceil(52 / cell_w))
    base = top + cell_h * len(rows)
    for c, name in enumerate(columns):
        if c % every == 0:
            x = left + c * cell_w + cell_w / 2
            out.append(f'<text class="tick" x="{x:.1f}" y="{base + 12}" text-anchor="middle">{escape(name)}</text>')
    x = float(left)
    labels = ("< 0.05", "0.05", "0.1 warn", "0.25 crit", "0.5+")
    for (_, colour), label in zip(_HEAT, labels, strict=True):
        out.append(f'<rect x="{x:.0f}" y="{base + 22}" width="12" height="12" rx="2" fill="{colour}"/>')
        out.append(f'<text class="tick" x="{x + 16:.0f}" y="{base + 32}">{escape(label)}</text>')
        x += 82
    out.append(f'<text class="tick" x="{left - 8}" y="{base + 32}" text-anchor="end">PSI</text>')
    out.append("</svg>")
    return "".join(out)
