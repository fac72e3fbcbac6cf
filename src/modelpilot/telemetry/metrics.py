"""Every Prometheus instrument modelpilot exports, declared once (``modelpilot_`` prefix, base units).

Labels are bounded: model names and versions come from the registry (only served ones appear), variants are the
four roles, protocols are ``v1``/``v2``, codes are HTTP status codes. Generated SLO rules (the SLO issue) use these
exact names, so renaming one is a breaking change.

When the server runs several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` is set before they start and
:func:`exposition` merges every worker's values.

Example:
    >>> REQUESTS.labels(model="doc", version="1", variant="stable", protocol="v2", code="200").inc()
    >>> b"modelpilot_requests_total" in exposition()[0]
    True
"""

from __future__ import annotations

import os
import platform

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from modelpilot._version import __version__

disable_created_metrics()  # type: ignore[no-untyped-call]

__all__ = [
    "ALARMS",
    "ALARM_STATE",
    "ALARM_WINDOWS",
    "BUILD_INFO",
    "DRIFT_P_VALUE",
    "DRIFT_SCORE",
    "DROP_REASONS",
    "EVENTS_DROPPED",
    "EVENTS_PUBLISHED",
    "EVENT_QUEUE_DEPTH",
    "FALLBACKS",
    "IN_FLIGHT",
    "JOURNAL_BYTES",
    "JOURNAL_UNWRITTEN",
    "LABELS_JOINED",
    "LABELS_RECEIVED",
    "LABEL_COVERAGE",
    "LABEL_DELAY",
    "LABEL_OUTCOMES",
    "LABEL_PENDING",
    "LAST_EVENT_TIME",
    "LATENCY_BUCKETS",
    "MODEL_ERRORS",
    "MODEL_INFO",
    "MONITOR_EVENTS",
    "MONITOR_FLAGGED_ROWS",
    "MONITOR_LAG",
    "MONITOR_OUTCOMES",
    "MONITOR_ROWS",
    "MONITOR_WINDOWS",
    "PERFORMANCE_BUCKETS",
    "PERFORMANCE_ESTIMATED",
    "PERFORMANCE_REALIZED",
    "PERFORMANCE_WINDOWS",
    "PLAN_RELOADS",
    "PLAN_REVISION",
    "QUALITY_VIOLATIONS",
    "REQUESTS",
    "REQUEST_DURATION",
    "SHADOW_DROPS",
    "SHADOW_REQUESTS",
    "SLO_ALERT_STATE",
    "SLO_BUDGET_REMAINING",
    "SLO_BURN_RATE",
    "SLO_SLI_ERROR",
    "SPOOL_BYTES",
    "SPOOL_EVENTS",
    "SPOOL_REPLAYED",
    "SPOOL_WRITTEN",
    "exposition",
    "samples",
]

PERFORMANCE_BUCKETS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995, 0.999)
"""Bounds of the per-window performance histogram: the targets an accuracy SLO may set."""

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Request duration buckets in seconds: 5, 10, 25, 50, 100, 250, 500 ms, 1 s and 2.5 s as SLO thresholds need."""

REQUESTS = Counter(
    "modelpilot_requests_total",
    "Inference requests answered, by model, version, variant, protocol and HTTP status code.",
    ["model", "version", "variant", "protocol", "code"],
)
REQUEST_DURATION = Histogram(
    "modelpilot_request_duration_seconds",
    "Time to answer an inference request, from its arrival at the route (before the body is read) to the response.",
    ["model", "version", "variant", "protocol"],
    buckets=LATENCY_BUCKETS,
)
MODEL_ERRORS = Counter(
    "modelpilot_model_errors_total",
    "Model calls that raised or timed out, by kind (error, timeout).",
    ["model", "version", "kind"],
)
FALLBACKS = Counter(
    "modelpilot_fallbacks_total",
    "Requests answered by the fallback version because the routed version failed.",
    ["model", "reason"],
)
SHADOW_REQUESTS = Counter(
    "modelpilot_shadow_requests_total",
    "Shadow calls run, by outcome (ok, error, timeout).",
    ["model", "version", "outcome"],
)
SHADOW_DROPS = Counter(
    "modelpilot_shadow_drops_total",
    "Shadow calls dropped because the shadow queue was full.",
    ["model"],
)
IN_FLIGHT = Gauge(
    "modelpilot_in_flight_requests",
    "Inference requests being answered now.",
    multiprocess_mode="livesum",
)
EVENT_QUEUE_DEPTH = Gauge(
    "modelpilot_event_queue_depth",
    "Events waiting for the bus.",
    multiprocess_mode="livesum",
)
EVENTS_PUBLISHED = Counter("modelpilot_events_published_total", "Events accepted by the bus.")
EVENTS_DROPPED = Counter(
    "modelpilot_events_dropped_total",
    "Events dropped before reaching the bus or the monitor, by reason (queue_full, closed, undecodable, "
    "unencodable, undeliverable, delivery_failed, spool_full, spool_error, spool_closed, spool_corrupt).",
    ["reason"],
)
DROP_REASONS = (
    "queue_full",
    "closed",
    "undecodable",
    "unencodable",
    "undeliverable",
    "delivery_failed",
    "spool_full",
    "spool_error",
    "spool_closed",
    "spool_corrupt",
)
for _reason in DROP_REASONS:  # exported at 0 from the start: sum() over them is 0, not empty, before any drop
    EVENTS_DROPPED.labels(reason=_reason)
SPOOL_EVENTS = Gauge(
    "modelpilot_spool_events",
    "Events held in the on-disk spool while the broker is unreachable, waiting to be replayed.",
    multiprocess_mode="livesum",
)
SPOOL_BYTES = Gauge(
    "modelpilot_spool_bytes",
    "Bytes the on-disk spool holds (its segment files).",
    multiprocess_mode="livesum",
)
SPOOL_WRITTEN = Counter("modelpilot_spool_written_total", "Events written to the on-disk spool.")
SPOOL_REPLAYED = Counter(
    "modelpilot_spool_replayed_total", "Events replayed from the on-disk spool and delivered to the broker."
)
JOURNAL_BYTES = Gauge(
    "modelpilot_journal_bytes",
    "Bytes of the embedded monitor's event journal (the events it took since its last snapshot).",
    multiprocess_mode="livesum",
)
JOURNAL_UNWRITTEN = Counter(
    "modelpilot_journal_unwritten_total",
    "Events the embedded monitor took but could not journal (watched; a crash before the next snapshot loses them).",
    ["reason"],
)
for _reason in ("spool_full", "spool_error", "spool_closed", "spool_corrupt", "unencodable", "unreadable"):
    JOURNAL_UNWRITTEN.labels(reason=_reason)
LABELS_RECEIVED = Counter("modelpilot_feedback_labels_total", "Labels accepted by the feedback route.")
PLAN_REVISION = Gauge(
    "modelpilot_traffic_plan_revision",
    "Revision of the traffic plans this process serves.",
    multiprocess_mode="max",
)
PLAN_RELOADS = Counter(
    "modelpilot_traffic_plan_reloads_total",
    "Traffic-plan reloads, by outcome (ok, failed: the previous plan stays).",
    ["outcome"],
)
MODEL_INFO = Gauge(
    "modelpilot_model_info",
    "1 for each version this process serves, with its role and format.",
    ["model", "version", "variant", "format"],
    multiprocess_mode="livemax",
)
BUILD_INFO = Gauge(
    "modelpilot_build_info",
    "1, labelled with the modelpilot and Python versions.",
    ["version", "python"],
    multiprocess_mode="max",
)
BUILD_INFO.labels(version=__version__, python=platform.python_version()).set(1)

# ------------------------------------------------------------------------------------------------- monitor
# Columns come from reference profiles (bounded by the signature), statistics and quality fields are fixed sets.
MONITOR_EVENTS = Counter(
    "modelpilot_monitor_events_total",
    "Events the monitor took, by outcome (counted, duplicate, unprofiled, failed, malformed, rejected, label, "
    "undecodable).",
    ["outcome"],
)
MONITOR_OUTCOMES = ("counted", "duplicate", "unprofiled", "failed", "malformed", "rejected", "label", "undecodable")
for _outcome in MONITOR_OUTCOMES:  # exported at 0 from the start
    MONITOR_EVENTS.labels(outcome=_outcome)
MONITOR_LAG = Gauge(
    "modelpilot_monitor_lag",
    "Messages a Kafka monitor worker has yet to read, by topic and partition (at its last snapshot).",
    ["topic", "partition"],
    multiprocess_mode="max",
)
MONITOR_WINDOWS = Counter(
    "modelpilot_monitor_windows_total",
    "Windows the monitor closed and judged.",
    ["model", "version", "variant"],
)
DRIFT_SCORE = Gauge(
    "modelpilot_drift_score",
    "A drift statistic of one column in the last closed window (psi, js, hellinger, wasserstein, ks).",
    ["model", "version", "variant", "column", "statistic"],
    multiprocess_mode="mostrecent",
)
DRIFT_P_VALUE = Gauge(
    "modelpilot_drift_p_value",
    "The test p-value of one column in the last closed window (KS for numbers, chi-squared for categories).",
    ["model", "version", "variant", "column"],
    multiprocess_mode="mostrecent",
)
ALARM_STATE = Gauge(
    "modelpilot_alarm_state",
    "Alarm state per kind (drift, quality, performance, change): 0 clear, 1 warning, 2 critical.",
    ["model", "version", "variant", "kind"],
    multiprocess_mode="mostrecent",
)
ALARMS = Counter(
    "modelpilot_alarms_total",
    "Alarm transitions, by kind and transition (raised, escalated, changed, resolved).",
    ["model", "version", "variant", "kind", "transition"],
)
QUALITY_VIOLATIONS = Counter(
    "modelpilot_quality_violations_total",
    "Values with a data-quality problem, by column and field (missing, nonfinite, wrong_type, out_of_range, "
    "unseen, absent).",
    ["model", "version", "variant", "column", "field"],
)
PERFORMANCE_ESTIMATED = Gauge(
    "modelpilot_performance_estimated",
    "Estimated performance (no labels needed) in the last closed window, by metric.",
    ["model", "version", "variant", "metric"],
    multiprocess_mode="mostrecent",
)
PERFORMANCE_REALIZED = Gauge(
    "modelpilot_performance_realized",
    "Realized performance (from joined labels) in the last closed label window, by metric.",
    ["model", "version", "variant", "metric"],
    multiprocess_mode="mostrecent",
)
LABELS_JOINED = Counter(
    "modelpilot_labels_joined_total",
    "Label outcomes at the join: joined, late, unknown, duplicate, invalid, missing (prediction expired unlabelled).",
    ["outcome"],
)
LABEL_COVERAGE = Gauge(
    "modelpilot_label_coverage_ratio",
    "Share of predictions that received a label before expiring (joined / (joined + missing)).",
    multiprocess_mode="mostrecent",
)
LABEL_PENDING = Gauge(
    "modelpilot_label_pending",
    "Predictions waiting for their label, and the bytes they hold, per monitor (a Kafka worker has one per partition).",
    ["monitor", "unit"],
    multiprocess_mode="mostrecent",
)
MONITOR_ROWS = Counter(
    "modelpilot_monitor_rows_total",
    "Rows (predictions) in the windows the monitor closed.",
    ["model", "version", "variant"],
)
MONITOR_FLAGGED_ROWS = Counter(
    "modelpilot_monitor_flagged_rows_total",
    "Rows with at least one data-quality violation, in the windows the monitor closed.",
    ["model", "version", "variant"],
)
ALARM_WINDOWS = Counter(
    "modelpilot_monitor_alarm_windows_total",
    "Windows closed while an alarm of the kind was active, by its severity (warning, critical).",
    ["model", "version", "variant", "kind", "severity"],
)
PERFORMANCE_WINDOWS = Histogram(
    "modelpilot_window_performance_ratio",
    "Per-window performance (proportion metrics), by source: estimated (traffic windows) or realized (labels).",
    ["model", "version", "variant", "metric", "source"],
    buckets=PERFORMANCE_BUCKETS,
)
LAST_EVENT_TIME = Gauge(
    "modelpilot_monitor_last_event_timestamp_seconds",
    "When the newest inference event of the model the monitor took was made (seconds since the epoch).",
    ["model"],
    multiprocess_mode="max",
)
LABEL_OUTCOMES = Counter(
    "modelpilot_label_outcomes_total",
    "Predictions whose wait for a label ended: joined (labelled) or missing (expired or evicted unlabelled).",
    ["model", "variant", "outcome"],
)
LABEL_DELAY = Histogram(
    "modelpilot_label_delay_seconds",
    "Time from a prediction to its label.",
    buckets=(1, 10, 60, 300, 900, 3600, 4 * 3600, 86400, 3 * 86400, 7 * 86400),
)


# ------------------------------------------------------------------------------------------------- SLOs
SLO_SLI_ERROR = Gauge(
    "modelpilot_slo_sli_error_ratio",
    "Share of bad events of an SLO over a window (5m to 3d, or the period).",
    ["slo", "model", "window"],
    multiprocess_mode="mostrecent",
)
SLO_BURN_RATE = Gauge(
    "modelpilot_slo_burn_rate",
    "How fast an SLO spends its error budget over a window (1: exactly the budget over the period).",
    ["slo", "model", "window"],
    multiprocess_mode="mostrecent",
)
SLO_BUDGET_REMAINING = Gauge(
    "modelpilot_slo_error_budget_remaining_ratio",
    "Share of the error budget left over the SLO's period (negative when overspent).",
    ["slo", "model"],
    multiprocess_mode="mostrecent",
)
SLO_ALERT_STATE = Gauge(
    "modelpilot_slo_alert_firing",
    "1 while the in-process burn-rate alert of the SLO and severity (page, ticket) fires, else 0.",
    ["slo", "model", "severity"],
    multiprocess_mode="mostrecent",
)


# ------------------------------------------------------------------------------------------------- streaming
# One stream worker serves one model; outcomes are "ok" or one of the dead-letter kinds (a fixed set).
STREAM_MESSAGES = Counter(
    "modelpilot_stream_messages_total",
    "Request messages the stream worker took, by outcome: ok (answered), or the dead-letter kind (parse, "
    "invalid_input, unknown_model, model_error, model_timeout, unavailable, internal, undeliverable).",
    ["model", "outcome"],
)
STREAM_LAG = Gauge(
    "modelpilot_stream_lag",
    "Request messages on the input topic's assigned partitions not yet taken by the stream worker.",
    ["model"],
    multiprocess_mode="livesum",
)


def samples() -> list[tuple[str, dict[str, str], float]]:
    """Every current sample as ``(name, labels, value)``, as a scrape of this process would see it."""
    registry: CollectorRegistry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return [(s.name, s.labels, s.value) for family in registry.collect() for s in family.samples]


def exposition() -> tuple[bytes, str]:
    """The metrics page and its content type (every worker's values merged in multi-process mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
