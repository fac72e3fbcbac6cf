"""What each SLI kind counts, written once and read two ways: as PromQL for the rendered rules, and from the
process's own metric samples for the in-process evaluator. Both read the same counters, so they agree.

Ratio SLIs count bad and total events from counters (requests, histogram buckets, windows, rows, labels).
``freshness`` samples time instead: at each evaluation it is bad when the model's newest event is older than
``max_age_s`` (the rules record that instant value and average it over each window).

Example:
    >>> from modelpilot.slo.spec import SloSpec
    >>> spec = SloSpec(name="avail", model="credit", sli={"kind": "availability"}, objective=99.9,
    ...                variants=["stable", "canary"])
    >>> q = Query.of(spec)
    >>> print(q.error_ratio("5m"))
    (sum(rate(modelpilot_requests_total{model="credit",variant=~"stable|canary",code=~"5.."}[5m])) or vector(0))
    /
    (sum(rate(modelpilot_requests_total{model="credit",variant=~"stable|canary"}[5m])) > 0)
    >>> samples = [("modelpilot_requests_total", {"model": "credit", "variant": "stable", "code": "200"}, 98.0),
    ...            ("modelpilot_requests_total", {"model": "credit", "variant": "stable", "code": "503"}, 2.0)]
    >>> q.counts(samples)
    (2.0, 100.0)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.utils import floatToGoString

from modelpilot.slo.spec import SloSpec

__all__ = ["Matcher", "Query", "Sample", "Series", "go_float", "promql_string"]

Sample = tuple[str, dict[str, str], float]
"""One metric sample: name, labels, value (as :func:`modelpilot.telemetry.metrics.samples` returns them)."""


def go_float(value: float | None) -> str:
    """A number as Prometheus writes it in labels and rules (``0.25``, ``1.0``, ``+Inf``).

    >>> go_float(0.25), go_float(1), go_float(float("inf"))
    ('0.25', '1.0', '+Inf')
    """
    return str(floatToGoString(value))  # type: ignore[no-untyped-call]


def promql_string(value: str) -> str:
    """``value`` as a double-quoted PromQL string.

    >>> print(promql_string('a"b'))
    "a\\"b"
    """
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@dataclass(frozen=True, slots=True)
class Matcher:
    """A label matcher: ``=`` (equal) or ``=~`` (whole-value regular expression), as in PromQL."""

    label: str
    op: str
    value: str

    def promql(self) -> str:
        """The matcher in PromQL."""
        return f"{self.label}{self.op}{promql_string(self.value)}"

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a sample's labels match (a missing label is the empty string, as in Prometheus)."""
        got = labels.get(self.label, "")
        if self.op == "=":
            return got == self.value
        return re.fullmatch(self.value, got) is not None


@dataclass(frozen=True, slots=True)
class Series:
    """A metric and its matchers."""

    metric: str
    matchers: tuple[Matcher, ...]

    def promql(self) -> str:
        """The selector in PromQL."""
        return f"{self.metric}{{{','.join(m.promql() for m in self.matchers)}}}"

    def total(self, samples: Iterable[Sample]) -> float:
        """The sum of every matching sample's value."""
        return sum(
            value
            for name, labels, value in samples
            if name == self.metric and all(m.matches(labels) for m in self.matchers)
        )


@dataclass(frozen=True, slots=True)
class Query:
    """An SLO's SLI as series: ``bad`` and ``total`` for ratio SLIs, or ``good`` and ``total`` when the counter
    counts good events (latency and accuracy buckets); ``last_event`` for freshness."""

    spec: SloSpec
    total: Series | None
    bad: Series | None = None
    good: Series | None = None
    last_event: Series | None = None

    @classmethod
    def of(cls, spec: SloSpec) -> Query:
        """The series of ``spec``'s SLI kind."""
        sli = spec.sli
        base = (
            Matcher("model", "=", spec.model),
            Matcher("variant", "=~", "|".join(re.escape(v) for v in spec.variants)),
        )

        def s(metric: str, *extra: Matcher) -> Series:
            return Series(metric, (*base, *extra))

        kind = sli.kind
        if kind == "availability":
            return cls(
                spec, s("modelpilot_requests_total"), bad=s("modelpilot_requests_total", Matcher("code", "=~", "5.."))
            )
        if kind == "latency":
            le = Matcher("le", "=", go_float(sli.threshold_s))
            return cls(
                spec,
                s("modelpilot_request_duration_seconds_count"),
                good=s("modelpilot_request_duration_seconds_bucket", le),
            )
        if kind == "drift_free":
            worse = "warning|critical" if sli.severity == "warning" else "critical"
            alarm = (Matcher("kind", "=", "drift"), Matcher("severity", "=~", worse))
            return cls(
                spec, s("modelpilot_monitor_windows_total"), bad=s("modelpilot_monitor_alarm_windows_total", *alarm)
            )
        if kind == "data_quality":
            return cls(spec, s("modelpilot_monitor_rows_total"), bad=s("modelpilot_monitor_flagged_rows_total"))
        if kind in ("accuracy", "estimated_accuracy"):
            source = Matcher("source", "=", "realized" if kind == "accuracy" else "estimated")
            metric = Matcher("metric", "=", sli.performance_metric)
            le = Matcher("le", "=", go_float(sli.target))
            hist = "modelpilot_window_performance_ratio"
            # A window at or below the target lands in the bucket: bad. Good windows are the rest.
            return cls(spec, s(f"{hist}_count", metric, source), bad=s(f"{hist}_bucket", metric, source, le))
        if kind == "label_coverage":
            outcomes = Matcher("outcome", "=~", "joined|missing")
            return cls(
                spec,
                s("modelpilot_label_outcomes_total", outcomes),
                bad=s("modelpilot_label_outcomes_total", Matcher("outcome", "=", "missing")),
            )
        last = Series("modelpilot_monitor_last_event_timestamp_seconds", (Matcher("model", "=", spec.model),))
        return cls(spec, None, last_event=last)

    # ------------------------------------------------------------------------------------------------- PromQL
    def instant(self) -> str:
        """PromQL, freshness only: 1 while the newest event is older than ``max_age_s``, else 0. The rules record it
        at every evaluation (``slo:sli_error:ratio_instant``) and average that over each window."""
        assert self.last_event is not None, "only freshness samples time"
        age = f"time() - max({self.last_event.promql()})"
        return f"{age} > bool {go_float(self.spec.sli.max_age_s)}"

    def error_ratio(self, window: str, *, instant: str | None = None) -> str:
        """PromQL: the share of bad events over ``window`` (e.g. ``5m``).

        For freshness, ``instant`` is the selector of the recorded :meth:`instant` series to average.
        """
        if self.last_event is not None:
            assert instant is not None, "freshness averages its recorded instant series"
            return f"avg_over_time({instant}[{window}])"
        assert self.total is not None
        # No traffic in the window gives no sample (not NaN, which would poison the period's average), and a bad
        # (or good) series that does not exist yet counts as zero.
        total = f"(sum(rate({self.total.promql()}[{window}])) > 0)"
        if self.bad is not None:
            return f"(sum(rate({self.bad.promql()}[{window}])) or vector(0))\n/\n{total}"
        assert self.good is not None
        return f"1 - (\n  (sum(rate({self.good.promql()}[{window}])) or vector(0))\n  /\n  {total}\n)"

    def events(self, window: str) -> str | None:
        """PromQL: how many events the SLI counted over ``window`` (``None`` for freshness)."""
        if self.total is None:
            return None
        return f"sum(increase({self.total.promql()}[{window}]))"

    # ------------------------------------------------------------------------------------------------- in-process
    def counts(self, samples: Iterable[Sample]) -> tuple[float, float]:
        """Cumulative ``(bad, total)`` events in this process's samples (ratio SLIs)."""
        assert self.total is not None, "freshness samples time, not counters"
        rows = list(samples)
        total = self.total.total(rows)
        if self.bad is not None:
            return self.bad.total(rows), total
        assert self.good is not None
        return total - self.good.total(rows), total

    def newest_event(self, samples: Iterable[Sample]) -> float | None:
        """Freshness: the newest event time of the model in the samples, or ``None`` before the first."""
        assert self.last_event is not None
        found = [
            v for n, labels, v in samples if n == self.last_event.metric and labels.get("model") == self.spec.model
        ]
        return max(found) if found else None
