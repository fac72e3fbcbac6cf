"""The two-sided tabular CUSUM: detect a shift of a scalar stream's mean away from a target, up or down.

Each value is standardised, ``z = (x - target) / sigma``, and two one-sided sums are kept (Montgomery's tabular
form, in units of ``sigma``)::

    C⁺ = max(0, C⁺ + z - k)        C⁻ = max(0, C⁻ - z - k)

and a change is signalled when either passes ``h``. ``target`` and ``sigma`` are the in-control mean and standard
deviation: pass them when they are known (e.g. the error rate and its spread on the reference data of the model
version); left out, they are the running mean and standard deviation of the values since the last reset — the
self-starting CUSUM — so no value is needed up front and no warm-up estimate can be unlucky for ever.

Skew: as in :class:`~modelpilot.monitoring.detectors.PageHinkley`, the threshold is widened for values far above
(below) the target by Bernstein's allowance, ``h·(1 + ⅔·k·R/sigma)`` with ``R = max - target`` (``target - min``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from modelpilot.monitoring.detectors._checks import check_direction, check_int, check_real
from modelpilot.monitoring.detectors._moments import TWO_THIRDS, Moments, finite, running_sum
from modelpilot.monitoring.detectors.base import BaseDetector, Direction, register_detector

__all__ = ["CUSUM"]

BLOCK = 8192  # values per vectorised block in update_many


@register_detector
class CUSUM(BaseDetector):
    """Tabular CUSUM (two-sided by default) with a known or self-starting target and a variance-aware threshold.

    The sums are kept as ``S - min(S)`` of running totals, which equals the recursion above; after a detection
    the CUSUM starts afresh with the next value.

    Parameters
    ----------
    k
        Reference value (slack) in units of ``sigma``: the CUSUM is tuned to detect a shift of about ``2k`` sigma
        and ignores drifts smaller than ``k``. Default 0.1, i.e. tuned to 0.2 sigma: an error rate of 10% rising
        to 16%.
    h
        Decision interval in units of ``sigma``. Default 70: with ``k`` 0.1 and both sides watched it gives about
        one false alarm per 10⁸ stationary values (measured: 6 in 720 million values of 0/1 errors at rates from
        0.5% to 50% and of Gaussian and log-normal latencies), i.e. a 1% chance of an alarm in a million values.
        Montgomery's textbook ``k = 0.5, h = 5`` alarms every few hundred values by design.
    target
        The in-control mean; ``None`` (default): the running mean since the last reset.
    sigma
        The in-control standard deviation (> 0); ``None`` (default): the running one since the last reset.
    min_samples
        Values since the last reset before the sums start and an alarm can be raised. Default 100.
    direction
        ``"both"`` (default, the two-sided CUSUM), ``"up"`` (a rise only) or ``"down"`` (a fall only).

    Example
    -------
    A latency around 20 ms that moves to 23 ms at event 2000:

    >>> import numpy as np
    >>> from modelpilot.monitoring.detectors import CUSUM
    >>> wave = np.sin(np.arange(3000) * 0.7) * 2.0
    >>> latency = 20.0 + wave + np.r_[np.zeros(2000), np.full(1000, 3.0)]
    >>> detector = CUSUM()
    >>> detector.update_many(latency).tolist()
    [2042]
    >>> detector.n_detections, round(detector.mean, 1)
    (1, 23.0)

    References
    ----------
    - E. S. Page, "Continuous inspection schemes", Biometrika 41(1/2):100-115, 1954.
    - D. C. Montgomery, "Introduction to Statistical Quality Control", 7th ed., Wiley, 2013, §9.1 (tabular CUSUM).
    - D. M. Hawkins, "Self-starting CUSUM charts for location and scale", The Statistician 36(4):299-316, 1987.
    - D. Siegmund, "Sequential Analysis: Tests and Confidence Intervals", Springer, 1985, ch. II (ARL of CUSUM tests).
    - S. Boucheron, G. Lugosi, P. Massart, "Concentration Inequalities", Oxford, 2013, §2.8 (Bernstein).
    """

    name: ClassVar[str] = "cusum"

    def __init__(
        self,
        k: float = 0.1,
        h: float = 70.0,
        *,
        target: float | None = None,
        sigma: float | None = None,
        min_samples: int = 100,
        direction: Direction = "both",
    ) -> None:
        owner = type(self).__name__
        self._k = check_real(owner, "k", k, low=0.0)
        self._h = check_real(owner, "h", h, low=0.0, low_open=True)
        self._target = None if target is None else check_real(owner, "target", target)
        self._sigma = None if sigma is None else check_real(owner, "sigma", sigma, low=0.0, low_open=True)
        self._min_samples = check_int(owner, "min_samples", min_samples, low=1 if sigma is not None else 2)
        self._direction = check_direction(owner, direction)
        self._up = direction in ("up", "both")
        self._down = direction in ("down", "both")
        self._reset()

    def _reset_model(self) -> None:
        self._m = Moments()
        self._mean = 0.0 if self._target is None else self._target
        self._sd = 0.0 if self._sigma is None else self._sigma
        self._sp = self._spmin = 0.0  # running total for C⁺ and its lowest point
        self._sm = self._smmin = 0.0  # running total for C⁻ and its lowest point

    # -- read-only results ---------------------------------------------------------------------------------------

    @property
    def upper(self) -> float:
        """C⁺, the sum watching for a rise, in units of sigma."""
        return self._sp - self._spmin

    @property
    def lower(self) -> float:
        """C⁻, the sum watching for a fall, in units of sigma."""
        return self._sm - self._smmin

    @property
    def mean(self) -> float:
        """The target in use: the given one, or the running mean since the last reset."""
        return self._mean

    @property
    def std(self) -> float:
        """The sigma in use: the given one, or the running standard deviation since the last reset."""
        return self._sd

    # -- the test ------------------------------------------------------------------------------------------------

    def _step(self, x: float) -> bool:
        if self._drift_detected:
            self._reset_model()
        mean, sd = self._m.push(x)
        if self._target is not None:
            mean = self._target
        if self._sigma is not None:
            sd = self._sigma
        self._mean, self._sd = mean, sd
        active = self._m.n >= self._min_samples
        z = (x - mean) / sd if sd > 0.0 else 0.0
        alarm = False
        if self._up:
            self._sp += z - self._k if active else 0.0
            if self._sp < self._spmin:
                self._spmin = self._sp
            limit = self._h * (1.0 + TWO_THIRDS * self._k * max(self._m.hi - mean, 0.0) / sd) if sd > 0.0 else 0.0
            alarm = active and sd > 0.0 and self._sp - self._spmin > limit
        if self._down:
            self._sm += -z - self._k if active else 0.0
            if self._sm < self._smmin:
                self._smmin = self._sm
            limit = self._h * (1.0 + TWO_THIRDS * self._k * max(mean - self._m.lo, 0.0) / sd) if sd > 0.0 else 0.0
            alarm = alarm or (active and sd > 0.0 and self._sm - self._smmin > limit)
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
            mean = m.mean if self._target is None else np.full(seg.size, self._target)
            sd = m.sd if self._sigma is None else np.full(seg.size, self._sigma)
            active = m.n >= self._min_samples
            spread = sd > 0.0
            safe_sd = np.where(spread, sd, 1.0)
            z = np.where(spread, (seg - mean) / safe_sd, 0.0)
            alarm = np.zeros(seg.size, dtype=bool)
            sp = spmin = sm = smmin = np.zeros(0)
            if self._up:
                sp, spmin = running_sum(np.where(active, z - self._k, 0.0), self._sp, self._spmin)
                limit = self._h * (1.0 + TWO_THIRDS * self._k * np.maximum(m.hi - mean, 0.0) / safe_sd)
                alarm |= active & spread & (sp - spmin > limit)
            if self._down:
                sm, smmin = running_sum(np.where(active, -z - self._k, 0.0), self._sm, self._smmin)
                limit = self._h * (1.0 + TWO_THIRDS * self._k * np.maximum(mean - m.lo, 0.0) / safe_sd)
                alarm |= active & spread & (sm - smmin > limit)
            found = np.flatnonzero(alarm)
            last = int(found[0]) if found.size else seg.size - 1
            self._m.take(m, last)
            self._mean, self._sd = float(mean[last]), float(sd[last])
            if self._up:
                self._sp, self._spmin = float(sp[last]), float(spmin[last])
            if self._down:
                self._sm, self._smmin = float(sm[last]), float(smmin[last])
            self._drift_detected = bool(found.size)
            if found.size:
                hits.append(start + last)
            start += last + 1
        return hits

    # -- state ---------------------------------------------------------------------------------------------------

    def _params(self) -> dict[str, Any]:
        return {
            "k": self._k,
            "h": self._h,
            "target": self._target,
            "sigma": self._sigma,
            "min_samples": self._min_samples,
            "direction": self._direction,
        }

    def _state(self) -> dict[str, Any]:
        sums = {"sp": self._sp, "spmin": self._spmin, "sm": self._sm, "smmin": self._smmin}
        return {"moments": self._m.to_dict(), "mean": self._mean, "sd": self._sd, "sums": sums}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self._m.load(state["moments"])
        self._mean, self._sd = finite(state["mean"]), finite(state["sd"])
        if self._sd < 0.0:
            raise ValueError("sd must be ≥ 0")
        sums = state["sums"]
        self._sp, self._spmin, self._sm, self._smmin = (finite(sums[k]) for k in ("sp", "spmin", "sm", "smmin"))
