"""Running mean, standard deviation and range of the values seen since a detector's last reset, one value at a
time or a whole array at once with exactly the same floating-point operations (so both paths agree bit for bit).

Sums are kept relative to the first value after the reset (``shift``), which keeps the variance accurate for values
far from zero, such as latencies in microseconds.

Example:
    >>> import numpy as np
    >>> m = Moments()
    >>> for x in (2.0, 4.0, 6.0):
    ...     mean, sd = m.push(x)
    >>> mean, sd, m.hi, m.lo
    (4.0, 2.0, 6.0, 2.0)
    >>> arrays = Moments().push_many(np.array([2.0, 4.0, 6.0]))
    >>> arrays.mean.tolist(), arrays.sd.tolist()
    ([2.0, 3.0, 4.0], [0.0, 1.4142135623730951, 2.0])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["TWO_THIRDS", "Moments", "MomentsArrays", "finite", "running_sum"]

# Bernstein's inequality charges a variable bounded by R an extra (2/3)·R·t on top of its variance term; the
# detectors use it to widen their thresholds for skewed streams (rare errors, long latency tails).
TWO_THIRDS = 2.0 / 3.0

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MomentsArrays:
    """The running values after each element of an array (``n`` counts from the last reset)."""

    n: npt.NDArray[np.int64]
    mean: Floats
    sd: Floats
    hi: Floats
    lo: Floats
    s: Floats
    q: Floats
    shift: float


class Moments:
    """Count, mean, sample standard deviation, maximum and minimum of the values since the last reset."""

    __slots__ = ("hi", "lo", "n", "q", "s", "shift")

    def __init__(self) -> None:
        self.n = 0
        self.shift = 0.0
        self.s = 0.0  # sum of (x - shift)
        self.q = 0.0  # sum of (x - shift)**2
        self.hi = 0.0
        self.lo = 0.0

    def push(self, x: float) -> tuple[float, float]:
        """Add one value; return the mean and standard deviation including it."""
        if self.n == 0:
            self.shift = self.hi = self.lo = x
        d = x - self.shift
        self.n += 1
        self.s += d
        self.q += d * d
        if x > self.hi:
            self.hi = x
        if x < self.lo:
            self.lo = x
        n = self.n
        mo = self.s / n
        var = (self.q - self.s * mo) / (n - 1) if n > 1 else 0.0
        return self.shift + mo, (math.sqrt(var) if var > 0.0 else 0.0)

    def push_many(self, xs: Floats) -> MomentsArrays:
        """The running values after each element of ``xs``, as :meth:`push` would give them; ``self`` is unchanged."""
        shift, hi0, lo0 = (float(xs[0]),) * 3 if self.n == 0 else (self.shift, self.hi, self.lo)
        n = self.n + np.arange(1, xs.size + 1, dtype=np.int64)
        nf = n.astype(np.float64)
        d = xs - shift
        s = np.cumsum(np.concatenate(([self.s], d)))[1:]
        q = np.cumsum(np.concatenate(([self.q], d * d)))[1:]
        mo = s / nf
        num = q - s * mo
        var = np.zeros_like(num)
        several = n > 1
        var[several] = num[several] / (nf[several] - 1.0)
        sd = np.sqrt(np.where(var > 0.0, var, 0.0))
        hi = np.maximum.accumulate(np.concatenate(([hi0], xs)))[1:]
        lo = np.minimum.accumulate(np.concatenate(([lo0], xs)))[1:]
        return MomentsArrays(n=n, mean=shift + mo, sd=sd, hi=hi, lo=lo, s=s, q=q, shift=shift)

    def take(self, arrays: MomentsArrays, i: int) -> None:
        """Set the state to the one after element ``i`` of a :meth:`push_many` result."""
        self.n = int(arrays.n[i])
        self.shift = arrays.shift
        self.s, self.q = float(arrays.s[i]), float(arrays.q[i])
        self.hi, self.lo = float(arrays.hi[i]), float(arrays.lo[i])

    def to_dict(self) -> dict[str, Any]:
        """The state as plain JSON types."""
        return {"n": self.n, "shift": self.shift, "s": self.s, "q": self.q, "hi": self.hi, "lo": self.lo}

    def load(self, d: Mapping[str, Any]) -> None:
        """Restore :meth:`to_dict` output (TypeError or ValueError when it does not fit)."""
        n = d["n"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise TypeError("n must be a non-negative int")
        self.n = n
        self.shift, self.s, self.q, self.hi, self.lo = (finite(d[k]) for k in ("shift", "s", "q", "hi", "lo"))


def finite(v: Any) -> float:
    """A finite float from a JSON number (TypeError or ValueError otherwise)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TypeError(f"expected a number, got {v!r}")
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"expected a finite number, got {v!r}")
    return f


def running_sum(g: Floats, s0: float, smin0: float) -> tuple[Floats, Floats]:
    """Cumulative sum of ``g`` from ``s0`` and its running minimum from ``smin0``, added one by one as the scalar
    path does (``np.cumsum`` accumulates sequentially, so the two agree bit for bit)."""
    s = np.cumsum(np.concatenate(([s0], g)))[1:]
    return s, np.minimum.accumulate(np.concatenate(([smin0], s)))[1:]
