"""Grafana dashboards as code: one dashboard per model, built from the same SLO specs as the Prometheus rules.

A dashboard holds a row per SLO of the model (error budget remaining, the SLI against its objective, and the burn
rate over every alert window with the page and ticket thresholds drawn as lines), the service panels (request rate,
5xx ratio and latency quantiles), the model panels (drift per feature as a heatmap, estimated vs realized
performance) and annotations for traffic-plan changes, firing SLO alerts and raised monitor alarms.

The SLO panels read the recording rules (Sloth's names: ``slo:sli_error:ratio_rate5m``,
``slo:period_error_budget_remaining:ratio``, ... each labelled ``sloth_id="<model>-<name>"``); the other panels read
the instruments of :mod:`modelpilot.telemetry.metrics` directly. Every query uses the dashboard's ``datasource``
variable, so one file imports into any Grafana with a Prometheus data source. The panels themselves are built by
:mod:`modelpilot.slo.panels`; this module decides what they show and where.

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelpilot.slo.budget import ALERT_PAIRS, WINDOWS
from modelpilot.slo.panels import DATASOURCE, Grid, heatmap, number, selector, stat, threshold_lines, timeseries
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

_GRAFANA_DATASOURCE: dict[str, str] = {"type": "grafana", "uid": "-- Grafana --"}
_UID_MAX = 40
_UID_PREFIX = "modelpilot-"
_RATE = "$__rate_interval"
_QUANTILES = (0.5, 0.95, 0.99)
_ACCURACY_KINDS = ("accuracy", "estimated_accuracy")


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


# ---------------------------------------------------------------------------------------------------- sections
def _decimals(objective: float) -> int:
    """Decimals to show a ratio in percent with one digit more than the objective has (99.9 -> 2)."""
    text = number(objective)
    return min(5, (len(text.split(".")[1]) if "." in text else 0) + 1)


def _slo_row(grid: Grid, spec: SloSpec) -> None:
    sloth = {"sloth_id": spec.id}
    grid.row(f"SLO {spec.name}: {number(spec.objective)}% over {spec.period} ({spec.sli.kind})")
    about = spec.description or f"{spec.sli.kind} SLO of {spec.model}"
    grid.add(
        stat(
            "budget remaining",
            [(selector("slo:period_error_budget_remaining:ratio", **sloth), "remaining")],
            unit="percentunit",
            description=f"{about}. Share of the {spec.period} error budget "
            f"({number(spec.error_budget * 100)}% of events) not spent yet; negative when overspent.",
            steps=[("red", None), ("orange", 0.0), ("green", 0.25)],
            decimals=1,
        ),
        5,
        8,
    )
    grid.add(
        stat(
            "SLI now / objective",
            [
                (f"1 - {selector('slo:sli_error:ratio_rate5m', **sloth)}", "SLI 5m"),
                (f"1 - {selector(f'slo:sli_error:ratio_rate{spec.period}', **sloth)}", f"SLI {spec.period}"),
                (selector("slo:objective:ratio", **sloth), "objective"),
            ],
            unit="percentunit",
            description=f"Share of good events over the last 5m and the {spec.period} period, against the "
            f"objective of {number(spec.objective)}%.",
            steps=[("red", None), ("green", spec.ratio)],
            decimals=_decimals(spec.objective),
        ),
        5,
        8,
    )
    budget = selector("slo:error_budget:ratio", **sloth)
    grid.add(
        timeseries(
            "burn rate",
            [
                (f"{selector(f'slo:sli_error:ratio_rate{w}', **sloth)} / on(sloth_id) group_left() {budget}", w)
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


def _service_panels(grid: Grid, model: str, specs: Sequence[SloSpec]) -> None:
    requests = selector("modelpilot_requests_total", model=model)
    errors = selector("modelpilot_requests_total", model=model, code__re="5..")
    buckets = selector("modelpilot_request_duration_seconds_bucket", model=model)
    budgets = [s.error_budget for s in specs if s.sli.kind == "availability"]
    latency = [s.sli.threshold_s for s in specs if s.sli.kind == "latency" and s.sli.threshold_s is not None]
    grid.row("Service")
    grid.add(
        timeseries(
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
        timeseries(
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
            lines=threshold_lines(budgets),
            minimum=0,
        ),
        8,
        8,
    )
    grid.add(
        timeseries(
            "latency p50 / p95 / p99 by version and variant",
            [
                (
                    f"histogram_quantile({number(q)}, sum by (version, variant, le) (rate({buckets}[{_RATE}])))",
                    f"p{number(q * 100)} {{{{version}}}} {{{{variant}}}}",
                )
                for q in _QUANTILES
            ],
            unit="s",
            description="Request duration quantiles from the histogram; the lines are the latency SLO thresholds.",
            lines=threshold_lines(latency),
            minimum=0,
        ),
        8,
        8,
    )


def _performance_metrics(specs: Sequence[SloSpec]) -> list[str]:
    """The metrics of the accuracy SLOs (``accuracy`` SLOs first), or ``["accuracy"]`` without any."""
    ordered = sorted((s for s in specs if s.sli.kind in _ACCURACY_KINDS), key=lambda s: s.sli.kind != "accuracy")
    return list(dict.fromkeys(s.sli.performance_metric for s in ordered)) or ["accuracy"]


def _model_panels(grid: Grid, model: str, specs: Sequence[SloSpec]) -> None:
    grid.row("Model")
    drift = selector("modelpilot_drift_score", model=model, statistic="psi")
    grid.add(
        heatmap(
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
            timeseries(
                f"estimated vs realized {metric}",
                [
                    (
                        f"max by (version, variant) ({selector('modelpilot_performance_estimated', **labels)})",
                        "estimated {{version}} {{variant}}",
                    ),
                    (
                        f"max by (version, variant) ({selector('modelpilot_performance_realized', **labels)})",
                        "realized {{version}} {{variant}}",
                    ),
                ],
                unit="percentunit",
                description=f"{metric} estimated without labels (traffic windows) and realized from joined labels "
                "(label windows); the lines are the SLO targets.",
                lines=threshold_lines(sli.target for sli in own if sli.target is not None),
            ),
            12,
            9,
        )


# ---------------------------------------------------------------------------------------------------- annotations
def _annotation(name: str, expr: str, *, color: str, text: str, tags: str) -> dict[str, Any]:
    return {
        "datasource": dict(DATASOURCE),
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
    alerts = selector("ALERTS", alertstate="firing", sloth_service=model)
    raised = selector("modelpilot_alarms_total", model=model, transition="raised")
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
    grid = Grid()
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
