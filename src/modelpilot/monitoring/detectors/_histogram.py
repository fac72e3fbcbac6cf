"""The exponential histogram behind ADWIN: a window of values kept as buckets of 1, 2, 4, ... values, at most
``max_buckets`` of each size, with the window's count, total, spread and range (``O(max_buckets · log W)`` memory).

A bucket is ``[total, m2, min, max, cum_n, cum_total]``: its values' total, their sum of squared deviations from
its mean, their minimum and maximum, and the count and total of the window from its oldest value up to and
including this bucket (the split just after it). Splits keep their ``cum_n`` and ``cum_total`` while buckets merge,
which is what lets ADWIN test every split of many steps at once.

Example:
    >>> h = Histogram(max_buckets=2)
    >>> for x in (1.0, 2.0, 3.0, 4.0, 5.0):
    ...     h.insert(x)
    >>> [[b[0] for b in row] for row in h.rows], h.n, h.total
    ([[5.0], [3.0, 7.0]], 5, 15.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from modelpilot.monitoring.detectors._moments import finite

__all__ = ["Bucket", "Histogram", "SplitLog"]

Bucket = list[float]
# births of splits (cum_n, cum_total, step) and deaths (cum_n -> step), logged while inserting a batch
SplitLog = tuple[list[tuple[float, float, int]], dict[float, int]]


class Histogram:
    """Buckets in rows (row ``i`` holds buckets of ``2**i`` values, oldest first) and the window's statistics."""

    __slots__ = ("hi", "lo", "m2", "max_buckets", "n", "rows", "total")

    def __init__(self, max_buckets: int) -> None:
        self.max_buckets = max_buckets
        self.rows: list[list[Bucket]] = []
        self.n = 0
        self.total = 0.0
        self.m2 = 0.0
        self.lo = self.hi = 0.0

    @property
    def n_buckets(self) -> int:
        """Buckets in all rows."""
        return sum(len(row) for row in self.rows)

    def insert(self, x: float, log: SplitLog | None = None, step: int = 0) -> None:
        """Add ``x`` as the newest bucket and merge full rows; log the splits born and gone when ``log`` is given."""
        n_old = self.n
        mean_old = self.total / n_old if n_old else x
        self.n = n = n_old + 1
        self.total += x
        self.m2 += (x - mean_old) * (x - self.total / n)
        if n_old == 0:
            self.lo = self.hi = x
        elif x < self.lo:
            self.lo = x
        elif x > self.hi:
            self.hi = x
        rows = self.rows
        if not rows:
            rows.append([])
        elif log is not None:  # the newest bucket gets a split after it
            newest = rows[0][-1]
            log[0].append((newest[4], newest[5], step))
        rows[0].append([x, 0.0, x, x, n, self.total])
        i = 0
        while len(rows[i]) > self.max_buckets:
            a, b = rows[i][0], rows[i][1]
            del rows[i][:2]
            size = float(1 << i)
            d = a[0] / size - b[0] / size
            merged = [a[0] + b[0], a[1] + b[1] + d * d * (size / 2.0), min(a[2], b[2]), max(a[3], b[3]), b[4], b[5]]
            if log is not None:  # the split between a and b is gone
                log[1][a[4]] = step
            if i + 1 == len(rows):
                rows.append([])
            rows[i + 1].append(merged)
            i += 1

    def drop(self, count: int, n0: float, t0: float) -> None:
        """Drop the ``count`` oldest buckets (``n0`` values totalling ``t0``) and recompute the spread and range."""
        rows = self.rows
        for _ in range(count):
            rows[-1].pop(0)
            if not rows[-1]:
                rows.pop()
        for row in rows:
            for bucket in row:
                bucket[4] -= n0
                bucket[5] -= t0
        self.n -= int(n0)
        self.total -= t0
        mean = self.total / self.n
        m2, lo, hi = 0.0, math.inf, -math.inf
        for i, row in enumerate(rows):
            s = float(1 << i)
            for bucket in row:
                d = bucket[0] / s - mean
                m2 += bucket[1] + s * d * d
                lo, hi = min(lo, bucket[2]), max(hi, bucket[3])
        self.m2, self.lo, self.hi = m2, lo, hi

    def oldest_first(self) -> list[Bucket]:
        """All buckets from the oldest to the newest."""
        return [bucket for row in reversed(self.rows) for bucket in row]

    def copy(self) -> Histogram:
        """An independent copy (buckets included)."""
        other = Histogram(self.max_buckets)
        other.rows = [[bucket[:] for bucket in row] for row in self.rows]
        other.n, other.total, other.m2, other.lo, other.hi = self.n, self.total, self.m2, self.lo, self.hi
        return other

    def to_dict(self) -> dict[str, Any]:
        """The state as plain JSON types."""
        window = {"n": self.n, "total": self.total, "m2": self.m2, "lo": self.lo, "hi": self.hi}
        return {"window": window, "rows": [[list(bucket) for bucket in row] for row in self.rows]}

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`to_dict` output (TypeError or ValueError when it does not fit)."""
        window, rows = state["window"], state["rows"]
        n = window["n"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise TypeError("window n must be a non-negative int")
        if not isinstance(rows, list) or any(not isinstance(r, list) or len(r) > self.max_buckets for r in rows):
            raise TypeError(f"rows must be lists of at most max_buckets={self.max_buckets} buckets")
        loaded: list[list[Bucket]] = []
        for row in rows:
            buckets = []
            for bucket in row:
                if not isinstance(bucket, list) or len(bucket) != 6:
                    raise TypeError("a bucket is a list of 6 numbers")
                total, m2, lo, hi, cum_n, cum_total = (finite(v) for v in bucket)
                if not isinstance(bucket[4], int) or cum_n < 1:
                    raise TypeError("a bucket's cum_n must be a positive int")
                buckets.append([total, m2, lo, hi, bucket[4], cum_total])
            loaded.append(buckets)
        if sum(len(row) << i for i, row in enumerate(loaded)) != n:
            raise ValueError("the buckets do not add up to the window width")
        self.rows, self.n = loaded, n
        self.total, self.m2, self.lo, self.hi = (finite(window[k]) for k in ("total", "m2", "lo", "hi"))
