"""What the canary judge compares: one variant's requests over an interval, kept in bounded memory.

A :class:`VariantSample` counts requests and failures, keeps a uniform reservoir of latencies and of numeric
predictions (Vitter's algorithm R, with an injected RNG so runs repeat), counts categorical predictions, and
remembers the newest predictions by request id so a shadow can be paired with the stable answer of the same request.

Example:
    >>> import numpy as np
    >>> s = VariantSample(capacity=3, rng=np.random.default_rng(0))
    >>> for i in range(5):
    ...     _ = s.add(f"r{i}", latency_s=0.01 * (i + 1), ok=i != 4, predictions=["yes" if i % 2 else "no"])
    >>> s.requests, s.errors, len(s.latencies), s.categories
    (5, 1, 3, {'no': 2, 'yes': 2})
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.events.model import InferenceEvent

__all__ = ["VariantSample"]


class _Reservoir:
    """A uniform sample of at most ``capacity`` values from a stream (algorithm R)."""

    def __init__(self, capacity: int, rng: np.random.Generator) -> None:
        self.capacity = capacity
        self.values: list[float] = []
        self.seen = 0
        self._rng = rng

    def add(self, value: float) -> None:
        self.seen += 1
        if len(self.values) < self.capacity:
            self.values.append(value)
            return
        j = int(self._rng.integers(0, self.seen))
        if j < self.capacity:
            self.values[j] = value


class VariantSample:
    """One variant's requests over an interval.

    Parameters
    ----------
    capacity
        Latencies and numeric predictions kept (a uniform sample of all seen).
    paired
        Predictions remembered by request id, for shadow pairing (the newest ones).
    rng
        Random generator of the reservoirs.
    """

    def __init__(self, *, capacity: int = 2000, paired: int = 5000, rng: np.random.Generator | None = None) -> None:
        rng = rng if rng is not None else np.random.default_rng()
        self.requests = 0
        self.errors = 0
        self.rows = 0
        self._latency = _Reservoir(capacity, rng)
        self._numbers = _Reservoir(capacity, rng)
        self.categories: dict[str, int] = {}
        self.by_request: OrderedDict[str, tuple[Any, ...]] = OrderedDict()
        self.paired = paired

    @property
    def latencies(self) -> npt.NDArray[np.float64]:
        """The latency sample, seconds."""
        return np.asarray(self._latency.values, dtype=np.float64)

    @property
    def numbers(self) -> npt.NDArray[np.float64]:
        """The numeric-prediction sample."""
        return np.asarray(self._numbers.values, dtype=np.float64)

    @property
    def predictions(self) -> int:
        """Predictions seen (categorical and numeric)."""
        return sum(self.categories.values()) + self._numbers.seen

    def add(
        self, request_id: str, *, latency_s: float, ok: bool, predictions: Sequence[Any] | None = None
    ) -> VariantSample:
        """Count one request: its latency, whether it succeeded, and its predictions (one per row)."""
        self.requests += 1
        if not ok:
            self.errors += 1
        self._latency.add(float(latency_s))
        if not ok or predictions is None:
            return self
        self.rows += len(predictions)
        for value in predictions:
            if isinstance(value, bool | str) or value is None:
                key = str(value)
                self.categories[key] = self.categories.get(key, 0) + 1
            elif isinstance(value, int | float | np.integer | np.floating):
                self._numbers.add(float(value))
            else:
                key = str(value)
                self.categories[key] = self.categories.get(key, 0) + 1
        self.by_request[request_id] = tuple(predictions)
        if len(self.by_request) > self.paired:
            self.by_request.popitem(last=False)
        return self

    def add_event(self, event: InferenceEvent) -> VariantSample:
        """Count one inference event (status 200 is a success; 4xx are the caller's and are not counted)."""
        if 400 <= event.status < 500:
            return self
        preds = None if event.prediction is None else event.prediction.tolist()
        return self.add(event.request_id, latency_s=event.latency_s, ok=event.status < 500, predictions=preds)
