"""The monitor: reference profiles, windows of mergeable sketches, drift statistics, data quality, alarm rules and
performance (realized and estimated).

The pure core is exported here; the shell that talks to the store and the bus lives in
:mod:`modelpilot.monitoring.service` (live), :mod:`modelpilot.monitoring.profiles` (profiles of registered versions)
and :mod:`modelpilot.monitoring.history` (results in the store). See ``docs/monitoring.md``.
"""

from __future__ import annotations

from modelpilot.monitoring.drift import Baseline, ColumnDrift
from modelpilot.monitoring.engine import Monitor
from modelpilot.monitoring.judge import Judge
from modelpilot.monitoring.offline import Analysis, analyze_table
from modelpilot.monitoring.profile import ReferenceProfile, build_profile
from modelpilot.monitoring.results import Alarm, ColumnResult, QualityResult, WindowResult
from modelpilot.monitoring.rules import DriftRule, PerformanceRule, Persistence, QualityRule
from modelpilot.monitoring.sketch import Layout, Sketch
from modelpilot.monitoring.windows import Windower, WindowPolicy

__all__ = [
    "Alarm",
    "Analysis",
    "Baseline",
    "ColumnDrift",
    "ColumnResult",
    "DriftRule",
    "Judge",
    "Layout",
    "Monitor",
    "PerformanceRule",
    "Persistence",
    "QualityResult",
    "QualityRule",
    "ReferenceProfile",
    "Sketch",
    "WindowPolicy",
    "WindowResult",
    "Windower",
    "analyze_table",
    "build_profile",
]
