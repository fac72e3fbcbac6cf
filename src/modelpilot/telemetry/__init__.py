"""Telemetry: every Prometheus instrument in one module (:mod:`modelpilot.telemetry.metrics`)."""

from __future__ import annotations

from modelpilot.telemetry import metrics

__all__ = ["metrics"]
