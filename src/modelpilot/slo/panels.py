"""Grafana panel JSON: the building blocks a dashboard is laid out from.

Each builder returns the JSON model of one panel (``stat``, ``timeseries``, ``heatmap``) reading the dashboard's
``datasource`` variable; :class:`Grid` places the panels, and row panels between them, on Grafana's 24-column grid.
:func:`selector` writes the PromQL selectors the queries are made of and :func:`number` the numbers in titles and
queries. What the panels show is the business of :mod:`modelpilot.slo.grafana`.

Example:
    >>> grid = Grid()
    >>> grid.row("Service")
    >>> requests = selector("modelpilot_requests_total", model="credit", code__re="5..")
    >>> requests
    'modelpilot_requests_total{model="credit",code=~"5.."}'
    >>> panel = timeseries(
    ...     "errors", [(requests, "{{version}}")], unit="reqps", description="5xx answers", lines=threshold_lines([0.5])
    ... )
    >>> grid.add(panel, 12, 8)
    >>> [(p["type"], p["id"], p["gridPos"]) for p in grid.panels]
    [('row', 1, {'h': 1, 'w': 24, 'x': 0, 'y': 0}), ('timeseries', 2, {'h': 8, 'w': 12, 'x': 0, 'y': 1})]
    >>> panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    [{'color': 'transparent', 'value': None}, {'color': 'red', 'value': 0.5}]
    >>> number(0.95), number(99.0)
    ('0.95', '99')
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from modelpilot.slo.sli import promql_string

__all__ = [
    "DATASOURCE",
    "Grid",
    "heatmap",
    "number",
    "selector",
    "stat",
    "threshold_lines",
    "timeseries",
]

DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "${datasource}"}
"""The Prometheus data source of every query: the dashboard's ``datasource`` variable (copy it before editing)."""

_WIDTH = 24


# ---------------------------------------------------------------------------------------------------- PromQL
def selector(metric: str, /, **labels: str) -> str:
    """``metric{name="value",...}`` with every value escaped; ``code__re`` becomes the matcher ``code=~``."""
    matchers = []
    for name, value in labels.items():
        label, op = (name.removesuffix("__re"), "=~") if name.endswith("__re") else (name, "=")
        matchers.append(f"{label}{op}{promql_string(value)}")
    return f"{metric}{{{','.join(matchers)}}}"


def number(value: float) -> str:
    """``value`` in its shortest form (``%g``): ``99.9``, ``0.5``, ``14.4``, ``99`` for ``99.0``."""
    return f"{value:g}"


# ---------------------------------------------------------------------------------------------------- panels
def _target(expr: str, legend: str, ref: int, *, fmt: str = "time_series") -> dict[str, Any]:
    return {
        "datasource": dict(DATASOURCE),
        "editorMode": "code",
        "expr": expr,
        "format": fmt,
        "legendFormat": legend,
        "range": True,
        "refId": chr(ord("A") + ref),
    }


def _targets(queries: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    return [_target(expr, legend, i) for i, (expr, legend) in enumerate(queries)]


def _thresholds(steps: Sequence[tuple[str, float | None]]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for color, value in steps]}


def threshold_lines(values: Iterable[float], color: str = "red") -> list[tuple[str, float | None]]:
    """Threshold steps drawing a line at each value (the base step is transparent); none without values."""
    marks = sorted(set(values))
    return [("transparent", None), *((color, v) for v in marks)] if marks else []


def timeseries(
    title: str,
    queries: Iterable[tuple[str, str]],
    *,
    unit: str,
    description: str,
    lines: Sequence[tuple[str, float | None]] = (),
    minimum: float | None = None,
) -> dict[str, Any]:
    """A time series panel of ``queries`` (``(expr, legend)`` pairs); ``lines`` are threshold steps drawn dashed."""
    defaults: dict[str, Any] = {
        "color": {"mode": "palette-classic"},
        "custom": {
            "drawStyle": "line",
            "fillOpacity": 0,
            "lineWidth": 1,
            "showPoints": "never",
            "spanNulls": False,
            "thresholdsStyle": {"mode": "dashed" if lines else "off"},
        },
        "thresholds": _thresholds(lines or [("green", None)]),
        "unit": unit,
    }
    if minimum is not None:
        defaults["min"] = minimum
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": dict(DATASOURCE),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": _targets(queries),
    }


def stat(
    title: str,
    queries: Iterable[tuple[str, str]],
    *,
    unit: str,
    description: str,
    steps: Sequence[tuple[str, float | None]],
    decimals: int,
) -> dict[str, Any]:
    """A stat panel of the last value of each of ``queries``, colored by the threshold ``steps``."""
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": dict(DATASOURCE),
        "fieldConfig": {
            "defaults": {
                "color": {"mode": "thresholds"},
                "decimals": decimals,
                "thresholds": _thresholds(steps),
                "unit": unit,
            },
            "overrides": [],
        },
        "options": {
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": "auto",
        },
        "targets": _targets(queries),
    }


def heatmap(title: str, expr: str, legend: str, *, description: str) -> dict[str, Any]:
    """A heatmap of already-bucketed series: one row per series (named by ``legend``), colored by value."""
    return {
        "type": "heatmap",
        "title": title,
        "description": description,
        "datasource": dict(DATASOURCE),
        "fieldConfig": {
            "defaults": {"custom": {"hideFrom": {"legend": False, "tooltip": False, "viz": False}}},
            "overrides": [],
        },
        "options": {
            "calculate": False,
            "cellGap": 1,
            "cellValues": {"decimals": 3},
            "color": {
                "exponent": 0.5,
                "fill": "dark-orange",
                "min": 0,
                "mode": "scheme",
                "reverse": False,
                "scale": "exponential",
                "scheme": "Oranges",
                "steps": 64,
            },
            "legend": {"show": True},
            "rowsFrame": {"layout": "auto"},
            "tooltip": {"mode": "single", "yHistogram": False},
            "yAxis": {"axisPlacement": "left", "reverse": False},
        },
        "targets": [_target(expr, legend, 0)],
    }


# ---------------------------------------------------------------------------------------------------- layout
class Grid:
    """Places panels left to right in 24 columns, wrapping to a new line; a row panel takes a full line."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self._x = 0
        self._y = 0
        self._height = 0

    def _wrap(self) -> None:
        if self._x:
            self._y += self._height
            self._x, self._height = 0, 0

    def row(self, title: str) -> None:
        """Start a new line with a row panel titled ``title``; the panels added next go under it."""
        self._wrap()
        self.add(
            {"type": "row", "title": title, "collapsed": False, "datasource": dict(DATASOURCE), "panels": []},
            _WIDTH,
            1,
        )
        self._wrap()

    def add(self, panel: dict[str, Any], width: int, height: int) -> None:
        """Give ``panel`` the next id and a ``width`` x ``height`` place: after the last one, or on a new line."""
        if self._x + width > _WIDTH:
            self._wrap()
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"h": height, "w": width, "x": self._x, "y": self._y}
        self.panels.append(panel)
        self._x += width
        self._height = max(self._height, height)
