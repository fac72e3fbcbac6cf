"""The canary judge's statistics: comparisons of a canary with the stable version over the same period.

- **Two proportions** (error rates): the one-sided z test of "the canary fails more often" (pooled standard error,
  as ``statsmodels``' ``proportions_ztest``), and the Newcombe (1998, method 10) interval for the difference, built
  from the two Wilson score intervals: it stays inside [-1, 1] and behaves at rates near zero, where errors live.
- **Mann-Whitney U** (latency): the one-sided test of "canary latencies tend to be larger", normal approximation
  with the tie correction and a continuity correction, as ``scipy.stats.mannwhitneyu(..., method="asymptotic")``.
- **Hodges-Lehmann** shift: the median of all canary-minus-stable differences, with its distribution-free
  confidence interval (the order statistics of the differences at the Mann-Whitney critical values; Hollander,
  Wolfe and Chicken, 2014, 4.3). Samples are capped by the caller (the judge keeps bounded reservoirs), so the
  ``n x m`` differences stay small.
- **Wilson** score interval of one proportion (shadow disagreement).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> stable, canary = rng.gamma(4, 0.01, 400), rng.gamma(4, 0.01, 400) * 1.5
    >>> round(mann_whitney_greater(canary, stable), 6) < 0.001
    True
    >>> shift, low, high = hodges_lehmann(canary, stable, alpha=0.05)
    >>> low < shift < high, round(shift, 3)
    (True, 0.021)
    >>> p, (lo, hi) = two_proportions_greater(30, 1000, 10, 1000, alpha=0.05)
    >>> round(p, 5), round(lo, 4), round(hi, 4)
    (0.0007, 0.0078, 0.0333)

References:
    Newcombe, R. G. (1998). Interval estimation for the difference between independent proportions: comparison of
    eleven methods. *Statistics in Medicine* 17(8).
    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference. *JASA* 22(158).
    Hodges, J. L., Lehmann, E. L. (1963). Estimates of location based on rank tests. *Ann. Math. Statist.* 34(2).
    Hollander, M., Wolfe, D. A., Chicken, E. (2014). *Nonparametric Statistical Methods*, 3rd ed., Wiley.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special, stats

__all__ = ["hodges_lehmann", "mann_whitney_greater", "two_proportions_greater", "wilson"]

Floats = npt.NDArray[np.float64]


def _z(alpha: float) -> float:
    """The upper ``alpha / 2`` normal quantile (1.96 at 0.05)."""
    return float(special.ndtri(1.0 - alpha / 2.0))


def wilson(successes: float, n: float, *, alpha: float = 0.05) -> tuple[float, float]:
    """The Wilson score interval of a proportion (``(0, 1)`` without observations).

    >>> [round(x, 4) for x in wilson(0, 100)]
    [0.0, 0.037]
    """
    if n <= 0:
        return 0.0, 1.0
    z = _z(alpha)
    p = successes / n
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = 0.0 if successes <= 0 else max(0.0, center - half)  # exact ends: no rounding off 0 or 1
    high = 1.0 if successes >= n else min(1.0, center + half)
    return low, high


def two_proportions_greater(
    bad_a: float, n_a: float, bad_b: float, n_b: float, *, alpha: float = 0.05
) -> tuple[float, tuple[float, float]]:
    """Whether ``a`` fails more often than ``b``: the one-sided p-value of the pooled z test, and Newcombe's
    ``1 - alpha`` interval of the difference ``p_a - p_b``.

    >>> p, ci = two_proportions_greater(5, 100, 5, 100)
    >>> p, tuple(round(x, 4) for x in ci)
    (0.5, (-0.068, 0.068))
    """
    if n_a <= 0 or n_b <= 0:
        return 1.0, (-1.0, 1.0)
    pa, pb = bad_a / n_a, bad_b / n_b
    pooled = (bad_a + bad_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    # no failures at all (or only failures) on both sides: no evidence of a difference
    p_value = (1.0 if pa <= pb else 0.0) if se == 0.0 else float(special.ndtr(-(pa - pb) / se))
    la, ua = wilson(bad_a, n_a, alpha=alpha)
    lb, ub = wilson(bad_b, n_b, alpha=alpha)
    d = pa - pb
    low = d - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2)
    high = d + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)
    return p_value, (low, high)


def mann_whitney_greater(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """One-sided p-value of "``a`` tends to be larger than ``b``" (normal approximation, tie and continuity
    corrections; 1.0 when either sample is empty)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n, m = x.size, y.size
    if n == 0 or m == 0:
        return 1.0
    ranks = stats.rankdata(np.concatenate([x, y]))
    u = float(ranks[:n].sum()) - n * (n + 1) / 2.0
    _, counts = np.unique(np.concatenate([x, y]), return_counts=True)
    total = n + m
    ties = float((counts**3 - counts).sum())
    var = n * m / 12.0 * ((total + 1) - ties / (total * (total - 1)))
    if var <= 0:  # every value tied: U is always nm/2, and P(U >= nm/2) is 1
        return 1.0
    z = (u - n * m / 2.0 - 0.5) / math.sqrt(var)
    return float(special.ndtr(-z))


def hodges_lehmann(a: npt.ArrayLike, b: npt.ArrayLike, *, alpha: float = 0.05) -> tuple[float, float, float]:
    """The Hodges-Lehmann shift of ``a`` over ``b`` (median of all differences ``a_i - b_j``) and its ``1 - alpha``
    distribution-free interval; NaNs without data.

    >>> hodges_lehmann([3.0, 4.0, 5.0], [1.0, 2.0, 3.0], alpha=0.2)
    (2.0, 0.0, 4.0)
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n, m = x.size, y.size
    if n == 0 or m == 0:
        return math.nan, math.nan, math.nan
    diffs: Any = np.sort((x[:, None] - y[None, :]).ravel())
    shift = float(np.median(diffs))
    # The interval's ends are the C-th smallest and C-th largest differences (1-based), C = nm/2 - z sqrt(var U)
    # rounded down (the conservative side), at least 1.
    c = math.floor(n * m / 2.0 - _z(alpha) * math.sqrt(n * m * (n + m + 1) / 12.0))
    k = min(max(c, 1), diffs.size) - 1
    return shift, float(diffs[k]), float(diffs[diffs.size - 1 - k])
