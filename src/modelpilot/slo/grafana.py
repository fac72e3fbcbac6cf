"""Grafana dashboards as code: one dashboard per model, built from the same SLO specs as the Prometheus rules.

A dashboard holds a row per SLO of the model (error budget remaining, the SLI against its objective, and the burn
rate over every alert window with the page and ticket thresholds drawn as lines), the service panels (request rate,
5xx ratio and latency quantiles), the model panels (drift per feature as a heatmap, estimated vs realized
performance) and annotations for traffic-plan changes, firing SLO alerts and raised monitor alarms.

The SLO panels read the recording rules (Sloth's names: ``slo:sli_error:ratio_rate5m``,
``slo:period_error_budget_remaining:ratio``, ... each labelled ``sloth_id="<model>-<name>"``); the other panels read
the instruments of :mod:`modelpilot.telemetry.metrics` directly. Every query uses the dashboard's ``datasource``
variable, so one file imports into any Grafana with a Prometheus data source.

Example:
    >>> from modelpilot.slo.spec import parse_specs
    >>> specs = parse_specs('''
    ... slos:
    ...   - {name: availability, model: credit, sli: {kind: availability}, objective: 99.9}
    ... ''')
    >>> board = dashboard("credit", specs)
    >>> board["uid"], board["title"], board["schemaVersion"]
    ('modelpilot-credit', 'modelpilot: credit', 39)
    >>> [p["title"] for p in board["panels"] if p["type"] == "row"]
    ['SLO availability: 99.9% over 28d (availability)', 'Service', 'Model']
    >>> [p["targets"][0]["expr"] for p in board["panels"] if p["title"] == "budget remaining"]
    ['slo:period_error_budget_remaining:ratio{sloth_id="credit-availability"}']
    >>> print(promql_string('we"ird'))
    "we\\"ird"
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from modelpilot.slo.budget import ALERT_PAIRS, WINDOWS
from modelpilot.slo.sli import promql_string
from modelpilot.slo.spec import SloSpec

__all__ = [
    "BURN_RATE_THRESHOLDS",
    "BURN_WINDOWS",
    "SCHEMA_VERSION",
    "dashboard",
    "dashboard_uid",
    "promql_string",
    "render_dashboards",
]

SCHEMA_VERSION = 39
"""The Grafana dashboard schema version the JSON follows (Grafana 10.3 and later read it as is)."""

BURN_WINDOWS: tuple[str, ...] = tuple(WINDOWS)
"""The windows of the multiwindow, multi-burn-rate alerts: each has a ``slo:sli_error:ratio_rate<window>`` rule."""

BURN_RATE_THRESHOLDS: tuple[float, ...] = tuple(sorted({p.factor for p in ALERT_PAIRS}))
"""Burn rates the alerts fire at: ticket at 1x (3d) and 3x (1d), page at 6x (6h) and 14.4x (1h)."""

_DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "${datasource}"}
_GRAFANA_DATASOURCE: dict[str, str] = {"type": "grafana", "uid": "-- Grafana --"}
_WIDTH = 24
_UID_MAX = 40
_UID_PREFIX = "modelpilot-"
_RATE = "$__rate_interval"
_QUANTILES = (0.5, 0.95, 0.99)
_ACCURACY_KINDS = ("accuracy", "estimated_accuracy")


# ---------------------------------------------------------------------------------------------------- PromQL
def _selector(metric: str, /, **labels: str) -> str:
    """``metric{name="value",...}`` with every value escaped; ``code__re`` becomes the matcher ``code=~``."""
    matchers = []
    for name, value in labels.items():
        label, op = (name.removesuffix("__re"), "=~") if name.endswith("__re") else (name, "=")
        matchers.append(f"{label}{op}{promql_string(value)}")
    return f"{metric}{{{','.join(matchers)}}}"


def _number(value: float) -> str:
    return f"{value:g}"


# ---------------------------------------------------------------------------------------------------- identity
def dashboard_uid(model: str) -> str:
    """The dashboard's stable uid: ``modelpilot-<model>`` when that is a valid uid of at most 40 characters, else a
    slug of the name and a hash of it (so names differing only in case or punctuation do not collide).

    >>> dashboard_uid("credit")
    'modelpilot-credit'
    >>> dashboard_uid("Credit.v2")
    'modelpilot-credit-v2-60e6ef58'
    """
    slug = re.sub(r"[^a-z0-9_-]+", "-", model.lower()).strip("-")
    plain = _UID_PREFIX + slug
    if slug == model and len(plain) <= _UID_MAX:
        return plain
    digest = hashlib.sha256(model.encode("utf-8")).hexdigest()[:8]
    room = _UID_MAX - len(_UID_PREFIX) - len(digest) - 1
    head = slug[:room].strip("-")
    return f"{_UID_PREFIX}{head}-{digest}" if head else f"{_UID_PREFIX}{digest}"


# ---------------------------------------------------------------------------------------------------- panels
def _target(expr: str, legend: str, ref: int, *, fmt: str = "time_series") -> dict[str, Any]:
    return {
        "datasource": dict(_DATASOURCE),
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


def _lines(values: Iterable[float], color: str = "red") -> list[tuple[str, float | None]]:
    """Threshold steps drawing a line at each value (the base step is transparent); none without values."""
    marks = sorted(set(values))
    return [("transparent", None), *((color, v) for v in marks)] if marks else []


def _timeseries(
    title: str,
    queries: Iterable[tuple[str, str]],
    *,
    unit: str,
    description: str,
    lines: Sequence[tuple[str, float | None]] = (),
    minimum: float | None = None,
) -> dict[str, Any]:
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
        "datasource": dict(_DATASOURCE),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": _targets(queries),
    }


def _stat(
    title: str,
    queries: Iterable[tuple[str, str]],
    *,
    unit: str,
    description: str,
    steps: Sequence[tuple[str, float | None]],
    decimals: int,
) -> dict[str, Any]:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": dict(_DATASOURCE),
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


def _heatmap(title: str, expr: str, legend: str, *, description: str) -> dict[str, Any]:
    """A heatmap of already-bucketed series: one row per series (named by ``legend``), colored by value."""
    return {
        "type": "heatmap",
        "title": title,
        "description": description,
        "datasource": dict(_DATASOURCE),
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


class _Grid:
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
        self._wrap()
        self.add(
            {"type": "row", "title": title, "collapsed": False, "datasource": dict(_DATASOURCE), "panels": []}, 24, 1
        )
        self._wrap()

    def add(self, panel: dict[str, Any], width: int, height: int) -> None:
        if self._x + width > _WIDTH:
            self._wrap()
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"h": height, "w": width, "x": self._x, "y": self._y}
        self.panels.append(panel)
        self._x += width
        self._height = max(self._height, height)


# ---------------------------------------------------------------------------------------------------- sections
def _decimals(objective: float) -> int:
    """Decimals to show a ratio in percent with one digit more than the objective has (99.9 -> 2)."""
    text = _number(objective)
    return min(5, (len(text.split(".")[1]) if "." in text else 0) + 1)


def _slo_row(grid: _Grid, spec: SloSpec) -> None:
    sloth = {"sloth_id": spec.id}
    grid.row(f"SLO {spec.name}: {_number(spec.objective)}% over {spec.period} ({spec.sli.kind})")
    about = spec.description or f"{spec.sli.kind} SLO of {spec.model}"
    grid.add(
        _stat(
            "budget remaining",
            [(_selector("slo:period_error_budget_remaining:ratio", **sloth), "remaining")],
            unit="percentunit",
            description=f"{about}. Share of the {spec.period} error budget "
            f"({_number(spec.error_budget * 100)}% of events) not spent yet; negative when overspent.",
            steps=[("red", None), ("orange", 0.0), ("green", 0.25)],
            decimals=1,
        ),
        5,
        8,
    )
    grid.add(
        _stat(
            "SLI now / objective",
            [
                (f"1 - {_selector('slo:sli_error:ratio_rate5m', **sloth)}", "SLI 5m"),
                (f"1 - {_selector(f'slo:sli_error:ratio_rate{spec.period}', **sloth)}", f"SLI {spec.period}"),
                (_selector("slo:objective:ratio", **sloth), "objective"),
            ],
            unit="percentunit",
            description=f"Share of good events over the last 5m and the {spec.period} period, against the "
            f"objective of {_number(spec.objective)}%.",
            steps=[("red", None), ("green", spec.ratio)],
            decimals=_decimals(spec.objective),
        ),
        5,
        8,
    )
    budget = _selector("slo:error_budget:ratio", **sloth)
    grid.add(
        _timeseries(
            "burn rate",
            [
                (f"{_selector(f'slo:sli_error:ratio_rate{w}', **sloth)} / on(sloth_id) group_left() {budget}", w)
                for w in BURN_WINDOWS
            ],
            unit="suffix:x",
            description="Error ratio over each window divided by the error budget (1x spends exactly the budget "
            f"over {spec.period}). {spec.alert_name} pages at 14.4x (1h and 5m) or 6x (6h and 30m) and opens a "
            f"ticket at 3x (1d and 2h) or 1x (3d and 6h). Runbook: {spec.runbook_url}",
            lines=[("transparent", None), ("yellow", 1.0), ("orange", 3.0), ("red", 6.0), ("dark-red", 14.4)],
            minimum=0,
        ),
        14,
        8,
    )


def _service_panels(grid: _Grid, model: str, specs: Sequence[SloSpec]) -> None:
    requests = _selector("modelpilot_requests_total", model=model)
    errors = _selector("modelpilot_requests_total", model=model, code__re="5..")
    buckets = _selector("modelpilot_request_duration_seconds_bucket", model=model)
    budgets = [s.error_budget for s in specs if s.sli.kind == "availability"]
    latency = [s.sli.threshold_s for s in specs if s.sli.kind == "latency" and s.sli.threshold_s is not None]
    grid.row("Service")
    grid.add(
        _timeseries(
            "request rate by version and variant",
            [(f"sum by (version, variant) (rate({requests}[{_RATE}]))", "{{version}} {{variant}}")],
            unit="reqps",
            description="Inference requests answered per second, every status code.",
            minimum=0,
        ),
        8,
        8,
    )
    grid.add(
        _timeseries(
            "error ratio (5xx) by version and variant",
            [
                (
                    f"sum by (version, variant) (rate({errors}[{_RATE}])) "
                    f"/ sum by (version, variant) (rate({requests}[{_RATE}]))",
                    "{{version}} {{variant}}",
                )
            ],
            unit="percentunit",
            description="Share of requests answered with a 5xx status; the lines are the availability error budgets.",
            lines=_lines(budgets),
            minimum=0,
        ),
        8,
        8,
    )
    grid.add(
        _timeseries(
            "latency p50 / p95 / p99 by variant",
            [
                (
                    f"histogram_quantile({_number(q)}, sum by (variant, le) (rate({buckets}[{_RATE}])))",
                    f"p{_number(q * 100)} {{{{variant}}}}",
                )
                for q in _QUANTILES
            ],
            unit="s",
            description="Request duration quantiles from the histogram; the lines are the latency SLO thresholds.",
            lines=_lines(latency),
            minimum=0,
        ),
        8,
        8,
    )


def _performance_metrics(specs: Sequence[SloSpec]) -> list[str]:
    """The metrics of the accuracy SLOs (``accuracy`` SLOs first), or ``["accuracy"]`` without any."""
    ordered = sorted((s for s in specs if s.sli.kind in _ACCURACY_KINDS), key=lambda s: s.sli.kind != "accuracy")
    return list(dict.fromkeys(s.sli.performance_metric for s in ordered)) or ["accuracy"]


def _model_panels(grid: _Grid, model: str, specs: Sequence[SloSpec]) -> None:
    grid.row("Model")
    drift = _selector("modelpilot_drift_score", model=model, statistic="psi")
    grid.add(
        _heatmap(
            "drift per feature (PSI)",
            f"max by (column) ({drift})",
            "{{column}}",
            description="Population stability index of each feature in the last closed monitor window (the "
            "highest over versions and variants): 0.1 is a moderate shift, 0.25 a significant one.",
        ),
        12,
        9,
    )
    for metric in _performance_metrics(specs):
        labels = {"model": model, "metric": metric}
        own = [s.sli for s in specs if s.sli.kind in _ACCURACY_KINDS and s.sli.performance_metric == metric]
        grid.add(
            _timeseries(
                f"estimated vs realized {metric}",
                [
                    (
                        f"max by (version, variant) ({_selector('modelpilot_performance_estimated', **labels)})",
                        "estimated {{version}} {{variant}}",
                    ),
                    (
                        f"max by (version, variant) ({_selector('modelpilot_performance_realized', **labels)})",
                        "realized {{version}} {{variant}}",
                    ),
                ],
                unit="percentunit",
                description=f"{metric} estimated without labels (traffic windows) and realized from joined labels "
                "(label windows); the lines are the SLO targets.",
                lines=_lines(sli.target for sli in own if sli.target is not None),
            ),
            12,
            9,
        )


# ---------------------------------------------------------------------------------------------------- annotations
def _annotation(name: str, expr: str, *, color: str, text: str, tags: str) -> dict[str, Any]:
    return {
        "datasource": dict(_DATASOURCE),
        "enable": True,
        "hide": False,
        "iconColor": color,
        "name": name,
        "tagKeys": tags,
        "target": {"expr": expr, "interval": "1m", "refId": "Anno"},
        "textFormat": text,
        "titleFormat": name,
        "useValueForTime": False,
    }


def _annotations(model: str) -> list[dict[str, Any]]:
    alerts = _selector("ALERTS", alertstate="firing", sloth_service=model)
    raised = _selector("modelpilot_alarms_total", model=model, transition="raised")
    return [
        {
            "builtIn": 1,
            "datasource": dict(_GRAFANA_DATASOURCE),
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        },
        _annotation(
            "traffic plan changed",
            "changes(modelpilot_traffic_plan_revision[1m]) > 0",
            color="blue",
            text="traffic plan revision changed on {{instance}}",
            tags="instance",
        ),
        _annotation(
            "SLO alert",
            alerts,
            color="red",
            text="{{alertname}} ({{severity}}) on {{sloth_slo}}",
            tags="severity,sloth_slo",
        ),
        _annotation(
            "monitor alarm",
            f"increase({raised}[1m]) > 0",
            color="orange",
            text="{{kind}} alarm raised on {{version}} ({{variant}})",
            tags="kind,variant",
        ),
    ]


# ---------------------------------------------------------------------------------------------------- dashboard
def dashboard(model: str, specs: Sequence[SloSpec]) -> dict[str, Any]:
    """The Grafana dashboard (JSON model, schema version 39) of ``model``: its SLOs among ``specs`` (others are
    ignored), then the service and model panels, which every model gets even without an SLO."""
    own = [s for s in specs if s.model == model]
    grid = _Grid()
    for spec in own:
        _slo_row(grid, spec)
    _service_panels(grid, model, own)
    _model_panels(grid, model, own)
    return {
        "annotations": {"list": _annotations(model)},
        "description": f"SLOs, service and model health of {model}. Generated by modelpilot from the SLO specs: "
        "edits made in Grafana are lost at the next render.",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": grid.panels,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["modelpilot", "slo"],
        "templating": {
            "list": [
                {
                    "current": {},
                    "hide": 0,
                    "includeAll": False,
                    "label": "Prometheus",
                    "multi": False,
                    "name": "datasource",
                    "options": [],
                    "query": "prometheus",
                    "refresh": 1,
                    "regex": "",
                    "skipUrlSync": False,
                    "type": "datasource",
                }
            ]
        },
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": f"modelpilot: {model}",
        "uid": dashboard_uid(model),
        "version": 1,
        "weekStart": "",
    }


def render_dashboards(specs: Sequence[SloSpec], out_dir: Path) -> list[Path]:
    """Write ``<out_dir>/<model>.dashboard.json`` for each model of ``specs`` (sorted keys, indented, newline at the
    end, so a re-render of the same specs changes no byte) and return the paths, in model order."""
    models = sorted({s.model for s in specs})
    for model in models:
        if Path(model).name != model or model in (".", ".."):
            raise ValueError(f"model name {model!r} cannot name a dashboard file")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for model in models:
        path = out_dir / f"{model}.dashboard.json"
        path.write_text(json.dumps(dashboard(model, specs), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
