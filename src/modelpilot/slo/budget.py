"""Error budgets and burn rates: pure functions, and a :class:`Ledger` of bad and total events over time.

The alerting scheme is the multiwindow, multi-burn-rate one of the Google SRE Workbook: an alert fires when the burn
rate is above the factor over both a long window (so it is significant) and a short one (so it resets soon after the
errors stop). Burn rate 1 spends exactly the budget over the period; 14.4 over 1 hour spends 2% of a 30-day budget.

==========  ===========  ============  ======
severity    long window  short window  factor
==========  ===========  ============  ======
page        1h           5m            14.4
page        6h           30m           6
ticket      1d           2h            3
ticket      3d           6h            1
==========  ===========  ============  ======

Example:
    >>> led = Ledger(period_s=28 * 86400)
    >>> led.add(1000.0, bad=5, total=1000)
    >>> led.error_ratio(3600, now=1000.0)
    0.005
    >>> burn_rate(0.005, error_budget=0.001)
    5.0
    >>> budget_remaining(5, 1000, error_budget=0.01)
    0.5
"""

from __future__ import annotations

import base64
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALERT_PAIRS",
    "WINDOWS",
    "BurnPair",
    "Ledger",
    "budget_remaining",
    "burn_rate",
    "firing",
]

WINDOWS: dict[str, float] = {"5m": 300, "30m": 1800, "1h": 3600, "2h": 7200, "6h": 21600, "1d": 86400, "3d": 259200}
"""The burn-rate windows, by their Prometheus name, in seconds."""


@dataclass(frozen=True, slots=True)
class BurnPair:
    """One multiwindow condition: burn rate above ``factor`` over both ``long`` and ``short``."""

    severity: Literal["page", "ticket"]
    long: str
    short: str
    factor: float


ALERT_PAIRS = (
    BurnPair("page", "1h", "5m", 14.4),
    BurnPair("page", "6h", "30m", 6.0),
    BurnPair("ticket", "1d", "2h", 3.0),
    BurnPair("ticket", "3d", "6h", 1.0),
)
"""The SRE Workbook's recommended pairs: 2% of a 30-day budget in 1 hour or 5% in 6 hours pages; 10% in 1 day or
10% in 3 days opens a ticket."""


def burn_rate(error_ratio: float | None, error_budget: float) -> float | None:
    """How many times faster than allowed the budget burns (``None`` without events).

    >>> burn_rate(0.0144, 0.001)
    14.4
    """
    if error_ratio is None:
        return None
    return round(error_ratio / error_budget, 12)


def budget_remaining(bad: float, total: float, error_budget: float) -> float:
    """Share of the budget left after ``bad`` of ``total`` events (1 with no events, negative when overspent).

    >>> budget_remaining(0, 0, 0.001), budget_remaining(2, 1000, 0.001)
    (1.0, -1.0)
    """
    if total <= 0:
        return 1.0
    return round(1.0 - (bad / total) / error_budget, 12)


def firing(
    severity: str,
    ratios: Mapping[str, float | None],
    events: Mapping[str, float] | None,
    error_budget: float,
    min_events: int = 0,
    min_bad_events: int = 0,
) -> bool:
    """Whether any pair of ``severity`` fires for the error ratios per window.

    ``events`` (per window) applies the guards to the long window: at least ``min_events`` events, of which at least
    ``min_bad_events`` bad. ``None`` turns the guards off (for SLIs that sample time rather than count events).

    >>> ratios = {"1h": 0.02, "5m": 0.5, "6h": 0.0, "30m": 0.0}
    >>> firing("page", ratios, {"1h": 100, "6h": 100}, 0.001, 20, 2)
    True
    >>> firing("page", ratios, {"1h": 3, "6h": 3}, 0.001, 20, 2)  # too few events
    False
    >>> firing("page", ratios, {"1h": 50, "6h": 50}, 0.001, 20, 2)  # 0.02 x 50 = one bad event
    False
    """
    for pair in ALERT_PAIRS:
        if pair.severity != severity:
            continue
        long, short = ratios.get(pair.long), ratios.get(pair.short)
        if long is None or short is None:
            continue
        limit = pair.factor * error_budget
        if not (long > limit and short > limit):
            continue
        if events is not None:
            n = events.get(pair.long, 0.0)
            if n < min_events or long * n <= min_bad_events - 0.5:  # counts are whole: half an event of slack
                continue
        return True
    return False


class Ledger:
    """Bad and total events over time, in two rings of time slots: fine (``step_s``) over the longest burn window,
    coarse (one hour) over the period. Memory is fixed: about 26k fine and ``period / 1h`` coarse slots.

    Parameters
    ----------
    period_s
        The SLO's period.
    step_s
        The fine slot width; window sums are exact to one slot.
    """

    def __init__(self, period_s: float, *, step_s: float = 10.0) -> None:
        if not (step_s > 0 and period_s >= max(WINDOWS.values())):
            raise ValueError("step_s must be positive and the period at least the longest window (3d)")
        self.period_s = float(period_s)
        self.step_s = float(step_s)
        self._fine = _Ring(step_s, math.ceil(max(WINDOWS.values()) / step_s) + 1)
        self._coarse = _Ring(3600.0, math.ceil(period_s / 3600.0) + 1)

    def add(self, time: float, *, bad: float, total: float) -> None:
        """Count ``bad`` of ``total`` events at ``time`` (seconds); events older than the rings hold are ignored."""
        if total < 0 or bad < 0 or bad > total:
            raise ValueError(f"need 0 <= bad <= total, got bad={bad} total={total}")
        if total == 0:
            self._fine.advance(time)
            self._coarse.advance(time)
            return
        self._fine.add(time, bad, total)
        self._coarse.add(time, bad, total)

    def sums(self, window_s: float, now: float) -> tuple[float, float]:
        """``(bad, total)`` over the last ``window_s`` seconds at ``now``."""
        ring = self._fine if window_s <= max(WINDOWS.values()) else self._coarse
        return ring.sums(window_s, now)

    def error_ratio(self, window_s: float, now: float) -> float | None:
        """Bad over total in the window (``None`` without events)."""
        bad, total = self.sums(window_s, now)
        return None if total <= 0 else bad / total

    def to_state(self) -> dict[str, Any]:
        """Plain JSON: both rings, compressed."""
        return {
            "period_s": self.period_s,
            "step_s": self.step_s,
            "fine": self._fine.to_state(),
            "coarse": self._coarse.to_state(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], *, period_s: float | None = None) -> Ledger:
        """Rebuild from :meth:`to_state`; a different ``period_s`` keeps what still fits."""
        led = cls(float(period_s or state["period_s"]), step_s=float(state["step_s"]))
        led._fine.restore(state["fine"])
        led._coarse.restore(state["coarse"])
        return led


class _Ring:
    """Time slots of ``width`` seconds; slot ``k`` covers ``[k * width, (k + 1) * width)``; the newest ``n`` kept."""

    def __init__(self, width: float, n: int) -> None:
        self.width = width
        self.n = n
        self.bad: npt.NDArray[np.float64] = np.zeros(n)
        self.total: npt.NDArray[np.float64] = np.zeros(n)
        self.head: int | None = None  # the newest slot number seen

    def advance(self, time: float) -> int:
        slot = int(time // self.width)
        if self.head is None:
            self.head = slot
        elif slot > self.head:
            gone = min(slot - self.head, self.n)
            idx = np.arange(self.head + 1, self.head + 1 + gone) % self.n
            self.bad[idx] = 0.0
            self.total[idx] = 0.0
            self.head = slot
        return slot

    def add(self, time: float, bad: float, total: float) -> None:
        slot = self.advance(time)
        assert self.head is not None
        if slot <= self.head - self.n:
            return  # older than the ring holds
        self.bad[slot % self.n] += bad
        self.total[slot % self.n] += total

    def sums(self, window_s: float, now: float) -> tuple[float, float]:
        if self.head is None:
            return 0.0, 0.0
        last = min(int(now // self.width), self.head)
        first = max(int(now // self.width) - math.ceil(window_s / self.width) + 1, self.head - self.n + 1)
        if first > last:
            return 0.0, 0.0
        idx = np.arange(first, last + 1) % self.n
        return float(self.bad[idx].sum()), float(self.total[idx].sum())

    def to_state(self) -> dict[str, Any]:
        """The slots oldest first, as zlib-compressed float64 bytes in base64 (a full 3-day ring of 10 s slots
        is ~0.4 MB raw; steady traffic compresses well)."""
        if self.head is None:
            return {"head": None}
        order = np.arange(self.head - self.n + 1, self.head + 1) % self.n
        return {"head": self.head, "bad": _pack(self.bad[order]), "total": _pack(self.total[order])}

    def restore(self, state: Mapping[str, Any]) -> None:
        head = state.get("head")
        if head is None:
            return
        bad, total = _unpack(state["bad"]), _unpack(state["total"])
        if bad.shape != total.shape:
            raise ValueError("a ledger's bad and total slots differ in length")
        numbers = np.arange(int(head) - len(total) + 1, int(head) + 1)
        self.head = int(head)
        keep = numbers > self.head - self.n  # a shorter ring (a shorter period) keeps the newest slots
        idx = numbers[keep] % self.n
        self.bad[idx] += bad[keep]
        self.total[idx] += total[keep]


def _pack(values: npt.NDArray[np.float64]) -> str:
    return base64.b64encode(zlib.compress(values.astype("<f8").tobytes(), 6)).decode("ascii")


def _unpack(text: str) -> npt.NDArray[np.float64]:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype="<f8").astype(np.float64)
