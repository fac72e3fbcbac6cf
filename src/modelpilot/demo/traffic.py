"""The demo's load generator: credit applications sent one per request to a running server at a steady rate, their
true outcomes posted back as feedback after a delay, and every labelled row kept as "recent data" for retraining.

Rows come from the current *regime* (:meth:`LoadGenerator.regime`): the demo switches from ordinary applicants to a
drifted population whose defaults also follow new rules. Statistics of the last seconds (rate, p50/p99 latency,
error share) are read with :meth:`LoadGenerator.stats`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from modelpilot.demo.data import credit_table
from modelpilot.demo.train import FEATURES

__all__ = ["LoadGenerator", "Stats"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stats:
    """The last ``span_s`` seconds of traffic."""

    sent: int
    errors: int
    rate: float
    p50_ms: float | None
    p99_ms: float | None
    error_share: float


class LoadGenerator:
    """Steady traffic with labels.

    Parameters
    ----------
    url
        The server, e.g. ``http://127.0.0.1:8000``.
    rate
        Requests per second (one application each).
    label_delay_s
        How long after its prediction a row's true outcome is posted.
    recent
        CSV file the last ``keep`` labelled rows are written to (the retraining job reads it).
    """

    def __init__(
        self, url: str, *, rate: float, label_delay_s: float, recent: Path, keep: int = 3000, seed: int = 101
    ) -> None:
        self.url = url
        self.rate = rate
        self.label_delay_s = label_delay_s
        self.recent_path = recent
        self._regimes = {"normal": self._rows(credit_table(40_000, seed=seed))}
        self._seed = seed
        self._regime = "normal"
        self._cursor = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done: deque[tuple[float, float, bool]] = deque(maxlen=20_000)  # (time, latency, ok)
        self._labels: deque[tuple[float, dict[str, Any]]] = deque()
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self.sent = 0
        self.errors = 0
        self._threads: list[threading.Thread] = []

    @staticmethod
    def _rows(table: pa.Table) -> list[dict[str, Any]]:
        return [{**{k: r[k] for k in FEATURES}, "default": int(r["default"])} for r in table.to_pylist()]

    def regime(self, name: str, *, shift: float = 0.0, concept: float = 0.0, zero_ages: float = 0.0) -> None:
        """From now on send rows of the population ``name`` (made once, with a fixed seed); ``zero_ages``: the share
        of rows whose age arrives as 0 (a form that lost its default: a data-quality problem)."""
        with self._lock:
            if name not in self._regimes:
                seed = self._seed + len(self._regimes)
                rows = self._rows(credit_table(40_000, seed=seed, shift=shift, concept=concept))
                broken = np.random.default_rng(seed).random(len(rows)) < zero_ages
                for row, bad in zip(rows, broken, strict=True):
                    if bad:
                        row["age"] = 0
                self._regimes[name] = rows
            self._regime, self._cursor = name, 0

    def _next(self) -> dict[str, Any]:
        with self._lock:
            rows = self._regimes[self._regime]
            row = rows[self._cursor % len(rows)]
            self._cursor += 1
            return row

    # ----------------------------------------------------------------------------------------------- threads
    def start(self, senders: int = 2) -> LoadGenerator:
        """Start the sender threads and the feedback thread."""
        for i in range(senders):
            t = threading.Thread(target=self._send, args=(self.rate / senders,), name=f"demo-load-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._feedback, name="demo-feedback", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _send(self, rate: float) -> None:
        import httpx2 as httpx

        period = 1.0 / rate
        with httpx.Client(base_url=self.url, timeout=10.0) as client:
            due = time.monotonic()
            while not self._stop.is_set():
                row = self._next()
                instance = {k: row[k] for k in FEATURES}
                began = time.perf_counter()
                try:
                    reply = client.post("/v1/models/credit:predict", json={"instances": [instance]})
                    ok = reply.status_code == 200
                    rid = reply.json().get("request_id") if ok else None
                except Exception:  # the server restarting or overloaded: an error, not a crash
                    ok, rid = False, None
                took = time.perf_counter() - began
                now = time.time()
                with self._lock:
                    self.sent += 1
                    self.errors += not ok
                    self._done.append((now, took, ok))
                    if rid is not None:
                        self._labels.append((now + self.label_delay_s, {"request_id": rid, "label": row["default"]}))
                        self._recent.append({**row, "time": now})
                due += period
                self._stop.wait(max(0.0, due - time.monotonic()))

    def _feedback(self) -> None:
        import httpx2 as httpx

        last_write = time.monotonic()
        with httpx.Client(base_url=self.url, timeout=10.0) as client:
            while not self._stop.wait(0.5):
                now = time.time()
                batch: list[dict[str, Any]] = []
                with self._lock:
                    while self._labels and self._labels[0][0] <= now:
                        batch.append({**self._labels.popleft()[1], "model": "credit"})
                if batch:
                    try:
                        client.post("/v1/feedback", json=batch)
                    except Exception as exc:  # labels are best effort, like any feedback pipeline
                        log.debug("demo: %d labels not posted (%s)", len(batch), exc)
                if time.monotonic() - last_write >= 2.0:
                    last_write = time.monotonic()
                    self.write_recent()

    def write_recent(self) -> int:
        """Write the recent labelled rows to the CSV file (atomically); return how many."""
        with self._lock:
            rows = list(self._recent)
        if not rows:
            return 0
        tmp = self.recent_path.with_suffix(".tmp")
        pacsv.write_csv(pa.Table.from_pylist(rows), tmp)
        tmp.replace(self.recent_path)
        return len(rows)

    def stats(self, span_s: float = 5.0) -> Stats:
        """Traffic of the last ``span_s`` seconds."""
        cut = time.time() - span_s
        with self._lock:
            recent = [(lat, ok) for t, lat, ok in self._done if t >= cut]
            sent, errors = self.sent, self.errors
        if not recent:
            return Stats(sent, errors, 0.0, None, None, 0.0)
        lat = np.array([r[0] for r in recent]) * 1000
        bad = sum(1 for r in recent if not r[1])
        return Stats(
            sent,
            errors,
            len(recent) / span_s,
            float(np.percentile(lat, 50)),
            float(np.percentile(lat, 99)),
            bad / len(recent),
        )

    def stop(self) -> None:
        """Stop sending (labels still due are dropped)."""
        self._stop.set()
        for t in self._threads:
            t.join(5)
