"""ADWIN, adaptive windowing: keep the longest recent window of a scalar stream in which the mean has not changed,
and signal a change when the newer part of the window differs enough from the older part that the older part must
be dropped.

The window is stored as an exponential histogram: row ``i`` holds at most ``max_buckets`` buckets of ``2**i``
values each (their total, spread and range), so a window of ``W`` values takes ``O(max_buckets · log W)`` memory.
After each value (every ``clock`` values) the test looks at every split of the window at a bucket boundary into an
older part ``W0`` (``n0`` values, mean ``μ0``) and a newer part ``W1`` (``n1``, ``μ1``), and cuts when::

    |μ1 - μ0| > sqrt(2·σ²·L / m) + 2·R·L / (3·m),   1/m = 1/n0 + 1/n1,   L = ln(2·ln(n) / delta)

with ``σ²`` the variance and ``R`` the range (max - min) of the window — the Bernstein form of the bound in
Bifet & Gavaldà (2007), whose analysis is for values in [0, 1] (``R = 1`` for a 0/1 error indicator); taking ``R``
from the window makes the same bound fit latencies and losses. A split must also differ by at least
``min_effect·sd`` (a significant but negligible shift of a very long window is not a change worth an alarm).

When splits pass, the paper drops the oldest bucket and tests again until none passes, which leaves part of the old
values in the window, so one change is often reported several times in a row. Here the window keeps only the
values after the split that passes most clearly (the largest ``|μ1 - μ0|`` relative to its bound: the estimated
change point), then tests again; one change gives one alarm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from modelpilot.monitoring.detectors._checks import check_direction, check_int, check_real
from modelpilot.monitoring.detectors._histogram import Histogram
from modelpilot.monitoring.detectors.base import BaseDetector, Direction, register_detector

__all__ = ["ADWIN"]

CHUNK = 512  # values per vectorised test in update_many


@register_detector
class ADWIN(BaseDetector):
    """ADWIN change detector (ADWIN2, with exponential-histogram buckets); signals a rise by default.

    The window shrinks whenever the test finds a split in either direction, so :attr:`estimation` always follows
    the current mean; ``direction`` only chooses which cuts are reported as a change.

    Parameters
    ----------
    delta
        Confidence of the cut test, in (0, 1): smaller is stricter. Default 2·10⁻⁴: no false alarm in 192 million
        stationary values (0/1 errors at rates from 0.5% to 50%, Gaussian and log-normal latencies), so well
        under a 1% chance of an alarm in a million values. The paper's 0.002 (River's default) alarms about once
        per 8 million values when every value is tested; 10x smaller costs about 10% more delay.
    min_effect
        Smallest change worth reporting, in standard deviations of the window: a split only passes when
        ``|μ1 - μ0|`` also exceeds ``min_effect·sd``. On a window of a million values a shift of a few hundredths
        of a standard deviation can be "significant" without being a change worth an alarm. Default 0.1, the same
        floor as CUSUM's ``k`` (an error rate of 10% rising to 13%, or 1% to 2%); 0 turns it off.
    clock
        Test the window every ``clock`` values. Default 1 (every value, as in the paper): checking every value
        costs more CPU but detects up to ``clock - 1`` values sooner than River's 32.
    max_buckets
        Buckets kept per row of the histogram (≥ 2); more means finer split points and more memory. Default 5.
    direction
        ``"up"`` (default) reports a rise only — the harmful change of an error rate, a latency or a loss;
        ``"down"`` a fall; ``"both"`` either.

    Example
    -------
    A 0/1 error stream at 10% that turns to 40% at event 3000:

    >>> import numpy as np
    >>> from modelpilot.monitoring.detectors import ADWIN
    >>> errors = np.r_[np.arange(3000) % 10 == 0, np.arange(1000) % 5 < 2].astype(float)
    >>> detector = ADWIN()
    >>> detector.update_many(errors).tolist()
    [3061]
    >>> detector.width, round(detector.estimation, 2)
    (1000, 0.4)

    References
    ----------
    - A. Bifet, R. Gavaldà, "Learning from time-changing data with adaptive windowing", SIAM International
      Conference on Data Mining (SDM), 2007.
    - M. Datar, A. Gionis, P. Indyk, R. Motwani, "Maintaining stream statistics over sliding windows", SIAM
      Journal on Computing 31(6):1794-1813, 2002 (exponential histograms).
    """

    name: ClassVar[str] = "adwin"

    def __init__(
        self,
        delta: float = 2e-4,
        *,
        min_effect: float = 0.1,
        clock: int = 1,
        max_buckets: int = 5,
        direction: Direction = "up",
    ) -> None:
        owner = type(self).__name__
        self._delta = check_real(owner, "delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
        self._min_effect = check_real(owner, "min_effect", min_effect, low=0.0)
        self._clock = check_int(owner, "clock", clock, low=1)
        self._max_buckets = check_int(owner, "max_buckets", max_buckets, low=2)
        self._direction = check_direction(owner, direction)
        self._up = direction in ("up", "both")
        self._down = direction in ("down", "both")
        self._reset()

    def _reset_model(self) -> None:
        self._hist = Histogram(self._max_buckets)

    # -- read-only results ---------------------------------------------------------------------------------------

    @property
    def width(self) -> int:
        """Values in the current window."""
        return self._hist.n

    @property
    def estimation(self) -> float:
        """Mean of the current window (0.0 before any value)."""
        return self._hist.total / self._hist.n if self._hist.n else 0.0

    @property
    def variance(self) -> float:
        """Variance of the current window."""
        return max(self._hist.m2, 0.0) / self._hist.n if self._hist.n else 0.0

    @property
    def n_buckets(self) -> int:
        """Buckets in the histogram (its memory), about ``max_buckets · log2(width / max_buckets)``."""
        return self._hist.n_buckets

    # -- the test ----------------------------------------------------------------------------------------------

    def _bound_terms(self) -> tuple[float, float, float]:
        """``(2·var·L, 2·R·L/3, min_effect·sd)``: a split passes when ``|μ1 - μ0| > max(sqrt(first / m) + second / m,
        third)``."""
        h = self._hist
        var = max(h.m2, 0.0) / h.n
        log_term = math.log(2.0 * math.log(h.n) / self._delta)
        return 2.0 * var * log_term, 2.0 * (h.hi - h.lo) * log_term / 3.0, self._min_effect * math.sqrt(var)

    def _best_cut(self) -> tuple[int, int, float, float] | None:
        """The split that passes the test most clearly (largest ``|μ1 - μ0| / bound``), or None when none does.

        Returns the sign of ``μ1 - μ0``, the number of buckets older than the split, and the split's ``n0, t0``.
        """
        rows, n, total = self._hist.rows, self._hist.n, self._hist.total
        if len(rows) == 1 and len(rows[0]) < 2:
            return None
        a, b, floor = self._bound_terms()
        best: tuple[int, int, float, float] | None = None
        best_ratio = 1.0
        k = 0
        for i in range(len(rows) - 1, -1, -1):
            row = rows[i]
            for j in range(len(row) - 1 if i == 0 else len(row)):
                k += 1
                n0, t0 = row[j][4], row[j][5]
                n1 = n - n0
                diff = (total - t0) / n1 - t0 / n0
                inv_m = 1.0 / n0 + 1.0 / n1
                eps = max(math.sqrt(a * inv_m) + b * inv_m, floor)
                if diff > eps or -diff > eps:
                    ratio = abs(diff) / eps if eps > 0.0 else math.inf
                    if best is None or ratio > best_ratio:
                        best, best_ratio = (1 if diff > 0.0 else -1, k, n0, t0), ratio
        return best

    def _check(self) -> bool:
        """While some split passes the test, keep only the values after the clearest one (the estimated change
        point); True when a dropped cut is a watched change."""
        signalled = False
        while (cut := self._best_cut()) is not None:
            sign, count, n0, t0 = cut
            signalled = signalled or (self._up if sign > 0 else self._down)
            self._hist.drop(count, n0, t0)
        return signalled

    # -- updates -------------------------------------------------------------------------------------------------

    def _step(self, x: float) -> bool:
        self._hist.insert(x)
        return (self._n_seen + 1) % self._clock == 0 and self._check()

    def _step_many(self, xs: npt.NDArray[np.float64]) -> list[int]:
        hist = self._hist
        if (hist.n == 0 or hist.lo == hist.hi == 0.0) and not xs.any():
            # Zeros into a window of zeros (a healthy error indicator): every split's means are equal, so no test
            # can cut; only the buckets change.
            for v in xs.tolist():
                hist.insert(v)
            return []
        hits: list[int] = []
        values = xs.tolist()
        start = 0
        while start < len(values):
            end = min(len(values), start + CHUNK)
            saved = self._hist.copy()
            cut = self._scan(values, start, end)
            if cut < 0:
                start = end
                continue
            self._hist = saved  # replay up to the first step with a cut, then test it as update() does
            for v in values[start : cut + 1]:
                saved.insert(v)
            if self._check():
                hits.append(cut)
            start = cut + 1
        return hits

    def _scan(self, values: list[float], start: int, end: int) -> int:
        """Insert ``values[start:end]``; return the first position whose test would cut (-1 if none).

        The splits that exist at each step, and their counts and totals, are logged while inserting; the test is
        then evaluated for every (step, split) pair at once with the same operations as :meth:`_first_cut`.
        """
        hist = self._hist
        births: list[tuple[float, float, int]] = [(b[4], b[5], 0) for b in hist.oldest_first()[:-1]]
        deaths: dict[float, int] = {}
        ns, totals, first, second, third, tested = [], [], [], [], [], []
        tick0 = self._n_seen + start + 1
        for step, x in enumerate(values[start:end]):
            hist.insert(x, (births, deaths), step)
            test = (tick0 + step) % self._clock == 0 and hist.n > 1
            a, b, floor = self._bound_terms() if test else (0.0, 0.0, 0.0)
            ns.append(hist.n)
            totals.append(hist.total)
            first.append(a)
            second.append(b)
            third.append(floor)
            tested.append(test)
        if not births:
            return -1
        steps = end - start
        n0 = np.array([b[0] for b in births], dtype=np.int64)
        t0 = np.array([b[1] for b in births], dtype=np.float64)
        born = np.array([b[2] for b in births], dtype=np.int64)
        died = np.array([deaths.get(b[0], steps) for b in births], dtype=np.int64)
        life = died - born
        split = np.repeat(np.arange(len(births)), life)
        at = born[split] + (np.arange(split.size) - np.repeat(np.cumsum(life) - life, life))
        keep = np.asarray(tested, dtype=bool)[at]
        split, at = split[keep], at[keep]
        n0s, t0s = n0[split], t0[split]
        n1s = np.asarray(ns, dtype=np.int64)[at] - n0s
        diff = (np.asarray(totals)[at] - t0s) / n1s - t0s / n0s
        inv_m = 1.0 / n0s + 1.0 / n1s
        eps = np.maximum(np.sqrt(np.asarray(first)[at] * inv_m) + np.asarray(second)[at] * inv_m, np.asarray(third)[at])
        fired = at[(diff > eps) | (-diff > eps)]
        return start + int(fired.min()) if fired.size else -1

    # -- state ---------------------------------------------------------------------------------------------------

    def _params(self) -> dict[str, Any]:
        return {
            "delta": self._delta,
            "min_effect": self._min_effect,
            "clock": self._clock,
            "max_buckets": self._max_buckets,
            "direction": self._direction,
        }

    def _state(self) -> dict[str, Any]:
        return self._hist.to_dict()

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self._hist.load(state)
