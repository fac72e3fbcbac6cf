"""Label delay: a mergeable summary of how long labels take to arrive after their predictions.

A :class:`LabelDelay` keeps the count, sum and maximum of the delays and their counts in fixed buckets
(:data:`DELAY_BUCKETS_S`, quarter-decades of seconds), so two summaries merge by addition and quantiles are read back
within a factor 1.78 (one bucket). Negative delays (clock skew) are counted apart and summarised as 0.

Example:
    >>> d = LabelDelay().update([30.0, 60.0, 3600.0, -5.0])
    >>> d.count, d.negative, d.max, round(d.mean, 2)
    (4, 1, 3600.0, 922.5)
    >>> d.quantile(0.5) <= 100.0, d.merge(LabelDelay().update([7200.0])).max
    (True, 7200.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.errors import InvalidInputError
from modelpilot.monitoring.performance.counters import Stat

__all__ = ["DELAY_BUCKETS_S", "LabelDelay"]

#: Upper bounds of the label-delay histogram: quarter-decades from 1 s to 1e7 s (~116 days), then +inf.
DELAY_BUCKETS_S: tuple[float, ...] = tuple(10 ** (k / 4) for k in range(29))


class LabelDelay:
    """Mergeable summary of label delays (label time minus prediction time, seconds): ``count``, ``sum``, ``max``
    and counts per fixed bucket of :data:`DELAY_BUCKETS_S`. Negative delays (clock skew) count in ``negative`` and
    as 0 everywhere else."""

    _FIELDS = ("count", "sum", "max", "negative")

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._s: dict[str, float] = dict.fromkeys(self._FIELDS, 0.0)
        self._counts = np.zeros(len(DELAY_BUCKETS_S) + 1, dtype=np.int64)

    def update(self, delays: npt.ArrayLike) -> LabelDelay:
        """Add delays in seconds."""
        d = np.asarray(delays, dtype=np.float64).ravel()
        if not np.isfinite(d).all():
            raise InvalidInputError("delays: values must be finite seconds", hint="check the event times")
        self._s["negative"] += int((d < 0).sum())
        d = np.maximum(d, 0.0)
        self._s["count"] += len(d)
        self._s["sum"] += float(d.sum())
        self._s["max"] = max(self._s["max"], float(d.max(initial=0.0)))
        self._counts += np.bincount(np.searchsorted(DELAY_BUCKETS_S, d), minlength=len(self._counts))
        return self

    count = Stat(int, "Delays summarised.")
    sum = Stat(float, "Their sum, seconds.")
    max = Stat(float, "The longest, seconds.")
    negative = Stat(int, "Negative delays (a label stamped before its prediction).")

    @property
    def mean(self) -> float | None:
        """Mean delay (``None`` before any)."""
        return self._s["sum"] / self._s["count"] if self._s["count"] else None

    @property
    def buckets(self) -> tuple[tuple[float, int], ...]:
        """``(upper bound, cumulative count)`` pairs, Prometheus ``le`` style, ending with ``inf``."""
        return tuple(zip((*DELAY_BUCKETS_S, math.inf), np.cumsum(self._counts).tolist(), strict=True))

    def quantile(self, q: float) -> float | None:
        """An upper bound of the ``q`` quantile (its bucket's bound, capped at the max): within a factor 1.78."""
        if not 0.0 <= q <= 1.0:
            raise InvalidInputError(f"q: {q!r} is not in [0, 1]", hint="e.g. 0.5 for the median")
        if not self._s["count"]:
            return None
        i = int(np.searchsorted(np.cumsum(self._counts), q * self._s["count"]))
        return min((*DELAY_BUCKETS_S, math.inf)[i], self._s["max"])

    def merge(self, other: LabelDelay) -> LabelDelay:
        """A new summary holding both."""
        out = LabelDelay.from_state(self.to_state())
        out._s = {k: max(v, other._s[k]) if k == "max" else v + other._s[k] for k, v in out._s.items()}
        out._counts += other._counts
        return out

    def to_state(self) -> dict[str, Any]:
        """Plain JSON state."""
        return {**self._s, "buckets": self._counts.tolist()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LabelDelay:
        """Rebuild from :meth:`to_state`."""
        out = cls()
        out._s = {k: float(state[k]) for k in cls._FIELDS}
        out._counts = np.asarray(state["buckets"], dtype=np.int64).reshape(len(DELAY_BUCKETS_S) + 1)
        return out
