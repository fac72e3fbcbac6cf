"""The Page-Hinkley test: detect a change in the mean of a scalar stream against its own running mean.

Each value is compared with the mean of all values since the last reset. For a rise, the test adds up
``x - mean - delta·sd`` and alarms when that sum climbs more than ``threshold·sd`` above its lowest point (plus a
Bernstein allowance for skewed streams, below). ``delta`` and ``threshold`` are in units of the running standard
deviation ``sd``, so one default fits a 0/1 error indicator, a loss and a latency in milliseconds alike.

Skew: a rare error is many standard deviations above a low error rate, so a short burst of errors moves the sum
far more than symmetric noise would. Bernstein's inequality for values at most ``R`` above their mean says how much
wider the threshold must be to keep the same false-alarm rate: the detector uses ``threshold·(sd + ⅔·delta·R)`` with
``R = max - mean`` of the values since the reset (``mean - min`` for a fall). For symmetric noise ``R`` is a few
``sd`` and the allowance is small; for an error rate of 1% it widens the threshold by about half.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from modelpilot.monitoring.detectors._checks import check_direction, check_int, check_real
from modelpilot.monitoring.detectors._moments import TWO_THIRDS, Moments, finite, running_sum
from modelpilot.monitoring.detectors.base import BaseDetector, Direction, register_detector

__all__ = ["PageHinkley"]

BLOCK = 8192  # values per vectorised block in update_many


@register_detector
class PageHinkley(BaseDetector):
    """Page-Hinkley change detector with a variance-aware threshold; one-sided (a rise) by default.

    After a detection the test starts afresh (new running mean, new sums) with the next value.

    Parameters
    ----------
    delta
        Size of change to ignore, in running standard deviations: drift smaller than ``delta·sd`` is absorbed.
        Default 0.075: an error rate of 10% rising to 15% is a shift of 0.17 sd, comfortably above it.
    threshold
        Alarm level of the cumulative sum, in running standard deviations. Default 85: with ``delta`` 0.075 it
        gives about one false alarm per 10⁸ stationary values (measured: 6 in 720 million values of 0/1 errors at
        rates from 0.5% to 50% and of Gaussian and log-normal latencies), i.e. a 1% chance of an alarm in a million
        values. Lower it for faster detection at more false alarms.
    min_samples
        Values since the last reset before the sums start and an alarm can be raised; the first ones only
        estimate the mean and standard deviation. Default 100.
    direction
        ``"up"`` (default) alarms on a rise only — the harmful change for an error rate, a latency or a loss —
        which spends the whole false-alarm budget on that side; ``"down"`` on a fall; ``"both"`` on either.

    Example
    -------
    A 0/1 error stream at 10% that turns to 40% at event 3000:

    >>> import numpy as np
    >>> from modelpilot.monitoring.detectors import PageHinkley
    >>> errors = np.r_[np.arange(3000) % 10 == 0, np.arange(1000) % 5 < 2].astype(float)
    >>> detector = PageHinkley()
    >>> detector.update_many(errors).tolist()
    [3110]
    >>> detector.n_detections, detector.n_seen
    (1, 4000)

    References
    ----------
    - E. S. Page, "Continuous inspection schemes", Biometrika 41(1/2):100-115, 1954.
    - D. V. Hinkley, "Inference about the change-point from cumulative sum tests", Biometrika 58(3):509-523, 1971.
    - H. Mouss, D. Mouss, N. Mouss, L. Sefouhi, "Test of Page-Hinkley, an approach for fault detection in an
      agro-alimentary production system", Asian Control Conference, 2004.
    - D. Siegmund, "Sequential Analysis: Tests and Confidence Intervals", Springer, 1985, ch. II (ARL of CUSUM tests).
    - S. Boucheron, G. Lugosi, P. Massart, "Concentration Inequalities", Oxford, 2013, §2.8 (Bernstein).
    """

    name: ClassVar[str] = "page_hinkley"

    def __init__(
        self,
        delta: float = 0.075,
        threshold: float = 85.0,
        *,
        min_samples: int = 100,
        direction: Direction = "up",
    ) -> None:
        owner = type(self).__name__
        self._delta = check_real(owner, "delta", delta, low=0.0)
        self._threshold = check_real(owner, "threshold", threshold, low=0.0, low_open=True)
        self._min_samples = check_int(owner, "min_samples", min_samples, low=2)
        self._direction = check_direction(owner, direction)
        self._up = direction in ("up", "both")
        self._down = direction in ("down", "both")
        self._reset()

    def _reset_model(self) -> None:
        self._m = Moments()
        self._mean = 0.0
        self._sd = 0.0
        self._u = self._umin = 0.0  # sum for a rise and its lowest point
        self._v = self._vmin = 0.0  # sum for a fall and its lowest point

    # -- read-only results ---------------------------------------------------------------------------------------

    @property
    def mean(self) -> float:
        """Mean of the values since the last reset."""
        return self._mean

    @property
    def std(self) -> float:
        """Sample standard deviation of the values since the last reset."""
        return self._sd

    @property
    def statistic(self) -> float:
        """The watched cumulative sum above its lowest point, in the stream's units (the larger side for both)."""
        return max(self._u - self._umin if self._up else 0.0, self._v - self._vmin if self._down else 0.0)

    # -- the test ------------------------------------------------------------------------------------------------

    def _step(self, x: float) -> bool:
        if self._drift_detected:
            self._reset_model()
        mean, sd = self._m.push(x)
        self._mean, self._sd = mean, sd
        active = self._m.n >= self._min_samples
        alarm = False
        if self._up:
            self._u += x - mean - self._delta * sd if active else 0.0
            if self._u < self._umin:
                self._umin = self._u
            limit = self._threshold * (sd + TWO_THIRDS * self._delta * max(self._m.hi - mean, 0.0))
            alarm = active and sd > 0.0 and self._u - self._umin > limit
        if self._down:
            self._v += mean - x - self._delta * sd if active else 0.0
            if self._v < self._vmin:
                self._vmin = self._v
            limit = self._threshold * (sd + TWO_THIRDS * self._delta * max(mean - self._m.lo, 0.0))
            alarm = alarm or (active and sd > 0.0 and self._v - self._vmin > limit)
        return alarm

    def _step_many(self, xs: npt.NDArray[np.float64]) -> list[int]:
        hits: list[int] = []
        start = 0
        while start < xs.size:
            if self._drift_detected:
                self._reset_model()
                self._drift_detected = False
            seg = xs[start : start + BLOCK]
            m = self._m.push_many(seg)
            active = m.n >= self._min_samples
            alarm = np.zeros(seg.size, dtype=bool)
            u = umin = v = vmin = np.zeros(0)
            if self._up:
                u, umin = running_sum(np.where(active, seg - m.mean - self._delta * m.sd, 0.0), self._u, self._umin)
                allowance = TWO_THIRDS * self._delta * np.maximum(m.hi - m.mean, 0.0)
                alarm |= active & (m.sd > 0.0) & (u - umin > self._threshold * (m.sd + allowance))
            if self._down:
                v, vmin = running_sum(np.where(active, m.mean - seg - self._delta * m.sd, 0.0), self._v, self._vmin)
                allowance = TWO_THIRDS * self._delta * np.maximum(m.mean - m.lo, 0.0)
                alarm |= active & (m.sd > 0.0) & (v - vmin > self._threshold * (m.sd + allowance))
            found = np.flatnonzero(alarm)
            last = int(found[0]) if found.size else seg.size - 1
            self._m.take(m, last)
            self._mean, self._sd = float(m.mean[last]), float(m.sd[last])
            if self._up:
                self._u, self._umin = float(u[last]), float(umin[last])
            if self._down:
                self._v, self._vmin = float(v[last]), float(vmin[last])
            self._drift_detected = bool(found.size)
            if found.size:
                hits.append(start + last)
            start += last + 1
        return hits

    # -- state ---------------------------------------------------------------------------------------------------

    def _params(self) -> dict[str, Any]:
        return {
            "delta": self._delta,
            "threshold": self._threshold,
            "min_samples": self._min_samples,
            "direction": self._direction,
        }

    def _state(self) -> dict[str, Any]:
        sums = {"u": self._u, "umin": self._umin, "v": self._v, "vmin": self._vmin}
        return {"moments": self._m.to_dict(), "mean": self._mean, "sd": self._sd, "sums": sums}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self._m.load(state["moments"])
        self._mean, self._sd = finite(state["mean"]), finite(state["sd"])
        sums = state["sums"]
        self._u, self._umin, self._v, self._vmin = (finite(sums[k]) for k in ("u", "umin", "v", "vmin"))
        if self._sd < 0.0 or not math.isfinite(self._sd):
            raise ValueError("sd must be ≥ 0")
