"""Request rate, latency and errors per model, version and variant over the last minutes, for the dashboard's charts.

This process's Prometheus counters (``modelpilot_requests_total`` and the ``modelpilot_request_duration_seconds``
histogram, every worker's merged in multi-process mode) are sampled every ``interval_s``; each point of the small
in-memory ring is the difference between two samples: requests per second, the share of them answered with a 5xx
(errors), and the mean and 95th-percentile latency of the interval. Longer history is Prometheus' job.

Example:
    >>> counts = {"200": 0.0, "500": 0.0}
    >>> labels = {"model": "m", "version": "1", "variant": "stable", "protocol": "v1"}
    >>> sample = lambda: [("modelpilot_requests_total", {**labels, "code": c}, n) for c, n in counts.items()]
    >>> rates = RequestRates(source=sample)
    >>> rates.observe(now=0.0)
    >>> counts.update({"200": 18.0, "500": 2.0})
    >>> rates.observe(now=2.0)
    >>> point = rates.series("m")["v1 stable"][-1]
    >>> point.rate, point.error_ratio
    (10.0, 0.1)
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from modelpilot.telemetry import metrics

__all__ = ["RatePoint", "RequestRates", "Totals", "backlog_of", "quantile", "totals_of"]

log = logging.getLogger(__name__)

Sample = tuple[str, dict[str, str], float]
Key = tuple[str, str, str]
"""(model, version, variant)"""

_REQUESTS = "modelpilot_requests_total"
_DURATION = "modelpilot_request_duration_seconds"


@dataclass
class Totals:
    """Cumulative counts of one (model, version, variant), summed over protocols and codes."""

    requests: float = 0.0
    errors: float = 0.0
    latency_sum: float = 0.0
    latency_count: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)
    """Upper bound (``inf`` included) to the cumulative count of requests at most that slow."""

    def minus(self, before: Totals) -> Totals | None:
        """The counts between ``before`` and now (``None`` when a counter went backwards: a restarted worker)."""
        delta = Totals(
            self.requests - before.requests,
            self.errors - before.errors,
            self.latency_sum - before.latency_sum,
            self.latency_count - before.latency_count,
            {le: n - before.buckets.get(le, 0.0) for le, n in self.buckets.items()},
        )
        if delta.requests < 0 or delta.latency_count < 0 or any(n < 0 for n in delta.buckets.values()):
            return None
        return delta

    @property
    def error_ratio(self) -> float | None:
        """Share of requests answered with a 5xx."""
        return self.errors / self.requests if self.requests > 0 else None

    @property
    def mean_latency_s(self) -> float | None:
        """Mean request duration."""
        return self.latency_sum / self.latency_count if self.latency_count > 0 else None

    def quantile(self, q: float) -> float | None:
        """A latency quantile from the histogram buckets."""
        return quantile(q, sorted(self.buckets.items()))


def quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of a cumulative histogram, interpolated linearly within its bucket (as Prometheus'
    ``histogram_quantile`` does; the last finite bound when it falls in the ``+Inf`` bucket).

    >>> quantile(0.5, [(0.1, 50.0), (0.2, 100.0), (math.inf, 100.0)])
    0.1
    >>> round(quantile(0.95, [(0.1, 50.0), (0.2, 100.0), (math.inf, 100.0)]), 3)
    0.19
    >>> quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]) is None
    True
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return lower
            if count == below:
                return le
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return lower


def totals_of(samples: Sequence[Sample]) -> dict[Key, Totals]:
    """Fold metric samples into totals per (model, version, variant).

    >>> t = totals_of([("modelpilot_requests_total", {"model": "m", "version": "1", "variant": "stable",
    ...                  "protocol": "v2", "code": "503"}, 4.0)])
    >>> t[("m", "1", "stable")].errors
    4.0
    """
    out: dict[Key, Totals] = {}
    for name, labels, value in samples:
        if not name.startswith("modelpilot_request"):
            continue
        key = (labels.get("model", ""), labels.get("version", ""), labels.get("variant", ""))
        if name == _REQUESTS:
            t = out.setdefault(key, Totals())
            t.requests += value
            if labels.get("code", "").startswith("5"):
                t.errors += value
        elif name == f"{_DURATION}_sum":
            out.setdefault(key, Totals()).latency_sum += value
        elif name == f"{_DURATION}_count":
            out.setdefault(key, Totals()).latency_count += value
        elif name == f"{_DURATION}_bucket":
            t = out.setdefault(key, Totals())
            le = float(labels.get("le", "inf"))
            t.buckets[le] = t.buckets.get(le, 0.0) + value
    return out


def backlog_of(samples: Sequence[Sample]) -> dict[str, float]:
    """The event path's state: events waiting in memory and on disk for the monitor, and events dropped.

    >>> backlog_of([("modelpilot_event_queue_depth", {}, 12.0),
    ...             ("modelpilot_events_dropped_total", {"reason": "queue_full"}, 0.0)])
    {'memory': 12.0, 'disk': 0.0, 'dropped': 0.0}
    """
    out = {"memory": 0.0, "disk": 0.0, "dropped": 0.0}
    for name, _, value in samples:
        if name == "modelpilot_event_queue_depth":
            out["memory"] += value
        elif name == "modelpilot_spool_events":
            out["disk"] += value
        elif name == "modelpilot_events_dropped_total":
            out["dropped"] += value
    return out


@dataclass(frozen=True, slots=True)
class RatePoint:
    """One interval of one series."""

    time: float
    rate: float
    """Requests per second."""
    error_ratio: float | None
    """Share answered with a 5xx (``None`` without requests)."""
    mean_latency_s: float | None
    p95_latency_s: float | None


def _label(key: Key) -> str:
    return f"v{key[1]} {key[2]}"


class RequestRates:
    """The ring of :class:`RatePoint` per series, and the latest totals.

    Parameters
    ----------
    interval_s
        Seconds between samples (when running on its thread).
    keep
        Points kept per series (``keep * interval_s`` seconds of history).
    source
        Reads the current metric samples (default: this process's, as a scrape would see them).
    clock
        Current time in seconds.
    """

    def __init__(
        self,
        *,
        interval_s: float = 2.0,
        keep: int = 180,
        source: Callable[[], Sequence[Sample]] = metrics.samples,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.interval_s = interval_s
        self.keep = keep
        self.source = source
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[Key, Totals] | None = None
        self._last_time = 0.0
        self._points: dict[Key, deque[RatePoint]] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def observe(self, now: float | None = None) -> None:
        """Take one sample and add a point to every series that has one."""
        t = self.clock() if now is None else now
        current = totals_of(self.source())
        with self._lock:
            previous, then = self._last, self._last_time
            self._last, self._last_time = current, t
            if previous is None or t <= then:
                return
            seconds = t - then
            for key, totals in current.items():
                delta = totals.minus(previous.get(key, Totals()))
                if delta is None:
                    continue
                point = RatePoint(
                    t, delta.requests / seconds, delta.error_ratio, delta.mean_latency_s, delta.quantile(0.95)
                )
                self._points.setdefault(key, deque(maxlen=self.keep)).append(point)

    def series(self, model: str) -> dict[str, list[RatePoint]]:
        """The points of each series of ``model``, by label (``v1 stable``), oldest first."""
        with self._lock:
            return {_label(k): list(v) for k, v in sorted(self._points.items()) if k[0] == model}

    def totals(self, model: str | None = None) -> dict[str, Totals]:
        """Counts since the process started, by series label (of one model, or ``model/v1 stable`` for all)."""
        with self._lock:
            last = dict(self._last or {})
        if model is None:
            return {f"{k[0]}/{_label(k)}": v for k, v in sorted(last.items())}
        return {_label(k): v for k, v in sorted(last.items()) if k[0] == model}

    # ----------------------------------------------------------------------------------------------- thread
    @property
    def running(self) -> bool:
        """Whether the sampling thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> RequestRates:
        """Sample every ``interval_s`` on a daemon thread (once; later calls do nothing)."""
        with self._lock:
            if self._thread is not None:
                return self
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="modelpilot-ui-rates", daemon=True)
        self.observe()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.observe()
            except Exception:  # pragma: no cover - a broken metrics read must not end the sampling
                log.exception("sampling request metrics for the dashboard failed")

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
