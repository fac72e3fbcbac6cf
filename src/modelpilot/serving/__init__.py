"""Serving: the Starlette app (OIP v2, v1 records, admin API), traffic plans and the router, the model runner.

Start a server with ``modelpilot serve``; build one in code with :func:`create_app`.
"""

from __future__ import annotations

from modelpilot.serving.app import create_app, create_app_from_env
from modelpilot.serving.plan import Choice, Router, Shadow, TrafficPlan, sticky_point
from modelpilot.serving.runner import Prediction, VersionRunner
from modelpilot.serving.state import FALLBACK_ALIAS, LoadedVersion, ModelTable, ServedModel
from modelpilot.serving.traffic import PlanChange, TrafficPlans

__all__ = [
    "FALLBACK_ALIAS",
    "Choice",
    "LoadedVersion",
    "ModelTable",
    "PlanChange",
    "Prediction",
    "Router",
    "ServedModel",
    "Shadow",
    "TrafficPlan",
    "TrafficPlans",
    "VersionRunner",
    "create_app",
    "create_app_from_env",
    "sticky_point",
]
