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

from collections.abc import Mapping
from typing import Any

import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from modelpilot.monitoring.sketch import Layout, Sketch

__all__ = ["WindowPolicy", "Windower"]


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
        out: list[Sketch] = []
        cur = self.current
        if (
            time is not None
            and cur.start is not None
            and time - cur.start >= self.policy.seconds
            and (cur.rows or cur.events)
        ):
            out.append(self._close())
        if rows == 0:
            self.current.update({}, rows=0, time=time, errors=errors, latency_s=latency_s)
            return out
        done, events = 0, 1
        while done < rows:
            room = self.policy.rows - self.current.rows
            take = min(room, rows - done)
            part = columns if (done == 0 and take == rows) else {k: v[done : done + take] for k, v in columns.items()}
            self.current.update(
                part,
                rows=take,
                time=time,
                errors=errors if done == 0 else 0,
                latency_s=latency_s if events else None,
                events=events,
            )
            events = 0
            done += take
            if self.current.rows >= self.policy.rows:
                out.append(self._close())
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
