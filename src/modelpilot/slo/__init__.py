"""SLOs and error budgets for models: specs, budget and burn-rate math, the in-process evaluator, Prometheus rules
and Grafana dashboards as code (see docs/slo.md)."""

from __future__ import annotations

from modelpilot.slo.budget import ALERT_PAIRS, WINDOWS, BurnPair, Ledger, budget_remaining, burn_rate, firing
from modelpilot.slo.evaluator import Evaluator, SloStatus
from modelpilot.slo.grafana import dashboard, render_dashboards
from modelpilot.slo.rules import render_rules, rule_groups
from modelpilot.slo.service import SloService, load_statuses
from modelpilot.slo.spec import ALERT_NAMES, SLI_KINDS, Alerting, Sli, SloSpec, load_specs, parse_specs

__all__ = [
    "ALERT_NAMES",
    "ALERT_PAIRS",
    "SLI_KINDS",
    "WINDOWS",
    "Alerting",
    "BurnPair",
    "Evaluator",
    "Ledger",
    "Sli",
    "SloService",
    "SloSpec",
    "SloStatus",
    "budget_remaining",
    "burn_rate",
    "dashboard",
    "firing",
    "load_specs",
    "load_statuses",
    "parse_specs",
    "render_dashboards",
    "render_rules",
    "rule_groups",
]
