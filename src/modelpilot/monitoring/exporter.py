"""The Prometheus side of the monitor: the metrics of each closed window (the store and the bus have the rest)."""

from __future__ import annotations

from modelpilot.monitoring.performance.estimated import PROPORTION_METRICS
from modelpilot.monitoring.results import WindowResult
from modelpilot.telemetry import metrics as m

__all__ = ["export"]

_STATISTICS = ("psi", "js", "hellinger", "wasserstein", "ks")


def export(r: WindowResult) -> None:
    """Export a closed window's figures as Prometheus metrics (counters, drift scores, performance)."""
    labels = (r.model, str(r.version), r.variant)
    if r.kind == "traffic":
        m.MONITOR_WINDOWS.labels(*labels).inc()
        m.MONITOR_ROWS.labels(*labels).inc(r.rows)
        m.MONITOR_FLAGGED_ROWS.labels(*labels).inc(r.flagged_rows)
        for c in r.drift:
            for stat in _STATISTICS:
                value = getattr(c, stat)
                if value is not None:
                    m.DRIFT_SCORE.labels(*labels, c.key, stat).set(value)
            m.DRIFT_P_VALUE.labels(*labels, c.key).set(c.p_value)
        for q in r.quality:
            for field, count in q.counts.items():
                if count:
                    m.QUALITY_VIOLATIONS.labels(*labels, q.key, field).inc(count)
        for metric, value in (r.estimated or {}).items():
            if value is not None:
                m.PERFORMANCE_ESTIMATED.labels(*labels, metric).set(value)
                if metric in PROPORTION_METRICS:
                    m.PERFORMANCE_WINDOWS.labels(*labels, metric, "estimated").observe(value)
    if r.kind == "labels":
        for metric, value in (r.realized or {}).items():
            if value is not None:
                m.PERFORMANCE_REALIZED.labels(*labels, metric).set(value)
                if metric in PROPORTION_METRICS:
                    m.PERFORMANCE_WINDOWS.labels(*labels, metric, "realized").observe(value)
