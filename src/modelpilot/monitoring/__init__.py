"""The monitor: reference profiles, windows of mergeable sketches, drift statistics, data quality, detectors and
performance (realized and estimated)."""

from __future__ import annotations

__all__: list[str] = []
