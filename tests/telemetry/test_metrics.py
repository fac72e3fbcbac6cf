"""Counters a dashboard or an alert sums are exported at 0 before anything happened."""

from __future__ import annotations

import subprocess
import sys


def test_drop_and_monitor_outcome_counters_are_zero_in_a_fresh_process() -> None:
    code = "from modelpilot.telemetry.metrics import exposition; print(exposition()[0].decode())"
    text = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    for reason in ("queue_full", "closed", "spool_full", "undecodable"):
        assert f'modelpilot_events_dropped_total{{reason="{reason}"}} 0.0' in text
    for outcome in ("counted", "duplicate", "malformed", "rejected"):
        assert f'modelpilot_monitor_events_total{{outcome="{outcome}"}} 0.0' in text
