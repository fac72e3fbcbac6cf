"""Prometheus rules as code: recording rules with Sloth's names and multiwindow, multi-burn-rate alerts.

Every SLO gets three rule groups:

- ``…-sli-recordings``: ``slo:sli_error:ratio_rate<w>`` for each burn window (5m to 3d), and
  ``slo:sli_events:increase<w>`` for the long windows (the minimum-events guard); freshness SLOs first record
  ``slo:sli_error:ratio_instant`` (1 while stale) and average it;
- ``…-meta-recordings``: ``slo:objective:ratio``, ``slo:error_budget:ratio``, ``slo:time_period:days``,
  ``slo:sli_error:ratio_rate<period>``, ``slo:current_burn_rate:ratio``, ``slo:period_burn_rate:ratio``,
  ``slo:period_error_budget_remaining:ratio`` and ``sloth_slo_info``;
- ``…-alerts``: one alert name per SLI kind with two rules, ``severity="page"`` and ``severity="ticket"``, each
  linking to its runbook.

Series carry Sloth's labels (``sloth_id``, ``sloth_service`` = the model, ``sloth_slo``, ``sloth_window``), so
dashboards made for Sloth's rules read them too. The period's error ratio is, as in Sloth, the mean of the 5-minute
ratios over the period (time-weighted); the in-process evaluator weighs by events.

Example:
    >>> from modelpilot.slo.spec import SloSpec
    >>> spec = SloSpec(name="avail", model="credit", sli={"kind": "availability"}, objective=99.9)
    >>> doc = rule_groups([spec])
    >>> [g["name"].removeprefix("modelpilot-slo-credit-avail-") for g in doc["groups"]]
    ['sli-recordings', 'meta-recordings', 'alerts']
    >>> [r["labels"]["severity"] for r in doc["groups"][2]["rules"]]
    ['page', 'ticket']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from modelpilot.slo.budget import ALERT_PAIRS, WINDOWS
from modelpilot.slo.sli import Query, go_float, promql_string
from modelpilot.slo.spec import SloSpec

__all__ = ["render_rules", "rule_groups", "to_yaml"]

_GUARD_WINDOWS = sorted({p.long for p in ALERT_PAIRS}, key=lambda w: WINDOWS[w])
_MEANING = {
    "availability": "requests answered without a 5xx status",
    "latency": "requests answered within {threshold}",
    "drift_free": "monitor windows without a drift alarm",
    "data_quality": "rows without a data-quality violation",
    "accuracy": "label windows whose realized {metric} is above {target}",
    "estimated_accuracy": "traffic windows whose estimated {metric} is above {target}",
    "label_coverage": "predictions that received their label",
    "freshness": "time with the newest event at most {max_age} old",
}


def meaning(spec: SloSpec) -> str:
    """What a good event of the SLO is, in words."""
    sli = spec.sli
    return _MEANING[sli.kind].format(
        threshold=f"{sli.threshold_s or 0:g} s",
        metric=sli.performance_metric,
        target=f"{sli.target or 0:g}",
        max_age=f"{sli.max_age_s or 0:g} s",
    )


def _ids(spec: SloSpec) -> dict[str, str]:
    return {"sloth_id": spec.id, "sloth_service": spec.model, "sloth_slo": spec.name}


def _selector(spec: SloSpec) -> str:
    return "{" + ",".join(f"{k}={promql_string(v)}" for k, v in _ids(spec).items()) + "}"


def _sli_group(spec: SloSpec) -> dict[str, Any]:
    query = Query.of(spec)
    rules: list[dict[str, Any]] = []
    instant = None
    if query.last_event is not None:  # freshness: record the instant bad/good value once, average it per window
        rules.append({"record": "slo:sli_error:ratio_instant", "expr": query.instant(), "labels": _ids(spec)})
        instant = f"slo:sli_error:ratio_instant{_selector(spec)}"
    for window in WINDOWS:
        rules.append(
            {
                "record": f"slo:sli_error:ratio_rate{window}",
                "expr": query.error_ratio(window, instant=instant),
                "labels": {**_ids(spec), "sloth_window": window},
            }
        )
    for window in _GUARD_WINDOWS:
        events = query.events(window)
        if events is not None:
            rules.append(
                {
                    "record": f"slo:sli_events:increase{window}",
                    "expr": events,
                    "labels": {**_ids(spec), "sloth_window": window},
                }
            )
    return {"name": f"modelpilot-slo-{spec.id}-sli-recordings", "rules": rules}


def _meta_group(spec: SloSpec) -> dict[str, Any]:
    sel, ids, period = _selector(spec), _ids(spec), spec.period
    on = "on(sloth_id, sloth_service, sloth_slo) group_left"
    days = spec.period_s / 86400
    rules = [
        {"record": "slo:objective:ratio", "expr": f"vector({go_float(spec.ratio)})", "labels": ids},
        {"record": "slo:error_budget:ratio", "expr": f"vector({go_float(spec.error_budget)})", "labels": ids},
        {"record": "slo:time_period:days", "expr": f"vector({days:g})", "labels": ids},
        {
            "record": f"slo:sli_error:ratio_rate{period}",
            "expr": f"sum_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])\n/ ignoring (sloth_window)\n"
            f"count_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])",
            "labels": {**ids, "sloth_window": period},
        },
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate5m{sel}\n/ {on}\nslo:error_budget:ratio{sel}",
            "labels": ids,
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate{period}{sel}\n/ {on}\nslo:error_budget:ratio{sel}",
            "labels": ids,
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{sel}",
            "labels": ids,
        },
        {
            "record": "sloth_slo_info",
            "expr": "vector(1)",
            "labels": {
                **ids,
                "sloth_mode": "modelpilot",
                "sloth_objective": f"{spec.objective:g}",
                "sloth_spec": "modelpilot/v1",
                "sloth_version": "modelpilot",
                "slo_kind": spec.sli.kind,
            },
        },
    ]
    return {"name": f"modelpilot-slo-{spec.id}-meta-recordings", "rules": rules}


def _condition(spec: SloSpec, severity: str) -> str:
    sel, budget = _selector(spec), go_float(spec.error_budget)
    guard = Query.of(spec).total is not None
    parts = []
    for pair in ALERT_PAIRS:
        if pair.severity != severity:
            continue
        limit = f"({go_float(pair.factor)} * {budget})"
        terms = [
            f"max(slo:sli_error:ratio_rate{pair.short}{sel} > {limit}) without (sloth_window)",
            f"max(slo:sli_error:ratio_rate{pair.long}{sel} > {limit}) without (sloth_window)",
        ]
        if guard:
            events = f"slo:sli_events:increase{pair.long}{sel}"
            ratio = f"slo:sli_error:ratio_rate{pair.long}{sel}"
            terms.append(f"max({events} >= {spec.alerting.min_events}) without (sloth_window)")
            # bad events = ratio x events; counts are whole, so half an event of slack absorbs rate()'s rounding
            bad = f"{ratio} * {events} > {spec.alerting.min_bad_events - 0.5:g}"
            terms.append(f"max({bad}) without (sloth_window)")
        parts.append("(\n    " + "\n  and\n    ".join(terms) + "\n)")
    return "\nor\n".join(parts)


def _alert_group(spec: SloSpec) -> dict[str, Any]:
    rules = []
    for severity, title in (("page", "fast"), ("ticket", "slow")):
        if not getattr(spec.alerting, severity):
            continue
        rules.append(
            {
                "alert": spec.alert_name,
                "expr": _condition(spec, severity),
                "labels": {
                    **spec.alerting.labels,
                    "severity": severity,
                    "sloth_severity": severity,
                    "model": spec.model,
                    "slo": spec.id,
                },
                "annotations": {
                    "title": f"{spec.model}: SLO {spec.name} burns its error budget ({title})",
                    "summary": f"{spec.model} {spec.name}: error budget burning {title}; objective "
                    f"{spec.objective:g}% of {meaning(spec)} over {spec.period}",
                    "runbook_url": spec.runbook_url,
                    **spec.alerting.annotations,
                },
            }
        )
    return {"name": f"modelpilot-slo-{spec.id}-alerts", "rules": rules}


def rule_groups(specs: Sequence[SloSpec]) -> dict[str, Any]:
    """One Prometheus rule file (as a mapping) holding every group of ``specs``, in their order."""
    groups: list[dict[str, Any]] = []
    for spec in specs:
        groups.extend([_sli_group(spec), _meta_group(spec)])
        alerts = _alert_group(spec)
        if alerts["rules"]:
            groups.append(alerts)
    return {"groups": groups}


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # every rule spells its labels out (no &id001 anchors)
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(doc: dict[str, Any]) -> str:
    """A rule file's YAML (multi-line expressions as literal blocks)."""
    header = "# Generated by `modelpilot slo render`; edit the SLO spec and render again instead of this file.\n"
    return header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=False)


def render_rules(specs: Sequence[SloSpec], out_dir: Path) -> list[Path]:
    """Write ``<out_dir>/<model>.rules.yml`` per model; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    by_model: dict[str, list[SloSpec]] = {}
    for spec in specs:
        by_model.setdefault(spec.model, []).append(spec)
    paths = []
    for model, group in by_model.items():
        path = out_dir / f"{_file_name(model)}.rules.yml"
        path.write_text(to_yaml(rule_groups(group)), encoding="utf-8")
        paths.append(path)
    return paths


def _file_name(model: str) -> str:
    """A file-system-safe name for a model."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in model).lstrip(".") or "model"
