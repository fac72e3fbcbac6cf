"""The autopilot: the canary judge, progressive rollouts and their controller, remediation policies with their
decisions and actions, the leader lease, and incidents (see docs/rollouts.md and docs/remediation.md)."""

from __future__ import annotations

from modelpilot.control.analysis import Analysis, load_analysis, parse_analysis
from modelpilot.control.controller import RolloutController
from modelpilot.control.incidents import Incident, incidents
from modelpilot.control.judge import CanaryJudge, CheckResult, Performance, Verdict
from modelpilot.control.lease import Lease
from modelpilot.control.policy import Policy, Rule, load_policy, parse_policy
from modelpilot.control.remediation import Remediator, Signal
from modelpilot.control.remediator_service import RemediationController
from modelpilot.control.rollout import Rollout, RolloutSpec, plan_for
from modelpilot.control.rollouts import RolloutStore
from modelpilot.control.samples import VariantSample

__all__ = [
    "Analysis",
    "CanaryJudge",
    "CheckResult",
    "Incident",
    "Lease",
    "Performance",
    "Policy",
    "RemediationController",
    "Remediator",
    "Rollout",
    "RolloutController",
    "RolloutSpec",
    "RolloutStore",
    "Rule",
    "Signal",
    "VariantSample",
    "Verdict",
    "incidents",
    "load_analysis",
    "load_policy",
    "parse_analysis",
    "parse_policy",
    "plan_for",
]
