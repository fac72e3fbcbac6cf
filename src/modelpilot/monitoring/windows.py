"""Tumbling windows: cut a stream of row batches into sketches of at most ``rows`` rows or ``seconds`` seconds.

A window closes when it holds ``rows`` rows (a batch that crosses the boundary is split, so count windows are exact
and the same data always gives the same windows), when an event arrives ``seconds`` or more after the window's
first event, or when :meth:`Windower.tick` sees the wall clock pass that point (so quiet traffic still gets
judged).

Example:
    >>> import numpy as np
    >>> from modelpilot.monitoring.columns import numeric_column
    >>> from modelpilot.monitoring.sketch import Layout
    >>> w = Windower(Layout([numeric_column("x", "feature", np.arange(10.0))]), WindowPolicy(rows=4, seconds=60))
    >>> [s.rows for s in w.add({"x": np.arange(10.0)}, rows=10, time=0.0)]
    [4, 4]
    >>> w.current.rows, [s.rows for s in w.tick(now=61.0)]
    (2, [2])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from modelpilot.monitoring.sketch import Layout, Sketch

__all__ = ["Run", "WindowPolicy", "Windower"]

Run = tuple[int, Mapping[str, "npt.NDArray[Any]"]]
"""Events up to (not including) this index, and their rows' columns concatenated in event order."""


class WindowPolicy(BaseModel):
    """Window size: ``rows`` rows or ``seconds`` seconds, whichever comes first.

    1000 rows: enough for a KS test to see a shift of about a quarter of a standard deviation and for PSI noise to
    stay near 0.02, small enough that a busy model is judged every few seconds. 60 s: a quiet model is still judged
    every minute.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: int = Field(default=1000, ge=1)
    seconds: float = Field(default=60.0, gt=0)


class Windower:
    """The open window of one stream (one model, version and variant) and the logic that closes it."""

    def __init__(self, layout: Layout, policy: WindowPolicy | None = None) -> None:
        self.layout = layout
        self.policy = policy or WindowPolicy()
        self.current = Sketch(layout)
        self.closed = 0

    def _close(self) -> Sketch:
        done, self.current = self.current, Sketch(self.layout)
        self.closed += 1
        return done

    def add(
        self,
        columns: Mapping[str, npt.NDArray[Any]],
        *,
        rows: int,
        time: float | None = None,
        errors: int = 0,
        latency_s: float | None = None,
    ) -> list[Sketch]:
        """Add one event's rows; return the windows that closed."""
        closed = self.add_batch(times=[time], rows=[rows], errors=[errors], latencies=[latency_s], runs=[(1, columns)])
        return [sketch for _, sketch in closed]

    def add_batch(
        self,
        *,
        times: Sequence[float | None],
        rows: Sequence[int],
        errors: Sequence[int],
        latencies: Sequence[float | None],
        runs: Sequence[Run],
    ) -> list[tuple[int, Sketch]]:
        """Add many events at once; return each window that closed with the index of the event that closed it.

        The same windows as :meth:`add` called on each event in turn: the boundaries are found with scalar
        arithmetic per event, and the columns between two boundaries are counted by one vectorised update. Events
        are described by parallel sequences (a failed call has 0 rows and its ``errors``); ``runs`` cut the events
        into consecutive groups whose columns were concatenated (one run per set of column names and kinds).

        Example:
            >>> import numpy as np
            >>> from modelpilot.monitoring.columns import numeric_column
            >>> from modelpilot.monitoring.sketch import Layout
            >>> w = Windower(Layout([numeric_column("x", "feature", np.arange(10.0))]), WindowPolicy(rows=4))
            >>> closed = w.add_batch(times=[0.0, 1.0, 2.0], rows=[3, 3, 0], errors=[0, 0, 1],
            ...                      latencies=[0.1, 0.1, 0.2], runs=[(2, {"x": np.arange(6.0)}), (3, {})])
            >>> [(i, s.rows, s.events) for i, s in closed], (w.current.rows, w.current.events, w.current.errors)
            ([(1, 4, 2)], (2, 1, 1))
        """
        out: list[tuple[int, Sketch]] = []
        limit, seconds = self.policy.rows, self.policy.seconds
        first = 0
        for end, columns in runs:
            pos = lo = 0  # row offset in the run: where the next event starts, and where uncounted rows start
            bounds = [0]  # first rows of the events not yet counted (relative to ``lo``)
            for e in range(first, end):
                cur, t = self.current, times[e]
                if t is not None and (cur.rows or cur.events) and cur.start is not None and t - cur.start >= seconds:
                    if pos > lo:  # the events before ``e`` are whole: their last bound is ``pos``
                        cur.count_columns(_rows(columns, lo, pos), rows=pos - lo, bounds=bounds)
                    out.append((e, self._close()))
                    lo, bounds = pos, [0]
                    cur = self.current
                n, lat = rows[e], latencies[e]
                if n == 0:
                    cur.count_stats(rows=0, events=1, errors=errors[e], latency_s=lat, time=t)
                    continue
                done = 0
                while done < n:
                    take = min(limit - cur.rows, n - done)
                    cur.count_stats(rows=take, events=int(done == 0), errors=errors[e] if done == 0 else 0,
                                    latency_s=lat if done == 0 else None, time=t)  # fmt: skip
                    done += take
                    pos += take
                    if cur.rows >= limit:
                        bounds.append(pos - lo)
                        cur.count_columns(_rows(columns, lo, pos), rows=pos - lo, bounds=bounds)
                        out.append((e, self._close()))
                        lo, bounds = pos, [0]
                        cur = self.current
                    elif done == n:
                        bounds.append(pos - lo)
            if pos > lo:
                if bounds[-1] != pos - lo:
                    bounds.append(pos - lo)
                self.current.count_columns(_rows(columns, lo, pos), rows=pos - lo, bounds=bounds)
            first = end
        return out

    def tick(self, now: float) -> list[Sketch]:
        """Close the open window if its time is up by the clock ``now``."""
        cur = self.current
        if (cur.rows or cur.events) and cur.start is not None and now - cur.start >= self.policy.seconds:
            return [self._close()]
        return []

    def flush(self) -> list[Sketch]:
        """Close the open window whatever its size (end of a file, shutdown)."""
        return [self._close()] if (self.current.rows or self.current.events) else []


def _rows(columns: Mapping[str, npt.NDArray[Any]], lo: int, hi: int) -> Mapping[str, npt.NDArray[Any]]:
    if lo == 0 and all(len(v) == hi for v in columns.values()):
        return columns
    return {k: v[lo:hi] for k, v in columns.items()}
