"""The canary judge's statistics against scipy, brute force and textbook formulas, plus coverage simulations."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from modelpilot.control.stats import hodges_lehmann, mann_whitney_greater, two_proportions_greater, wilson

Floats = npt.NDArray[np.float64]
KINDS = ("integers", "rounded", "continuous")


def _sample(rng: np.random.Generator, kind: str, size: int, loc: float = 0.0) -> Floats:
    """A sample with many ties (small integers), some ties (rounded floats) or almost none (continuous)."""
    if kind == "integers":
        return rng.integers(0, 6, size).astype(np.float64) + round(loc)
    if kind == "rounded":
        return np.round(rng.gamma(2.0, 1.0, size) + loc, 1)
    return rng.normal(loc, 1.0, size)


# ---------------------------------------------------------------- Mann-Whitney


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(KINDS),
    n=st.integers(1, 300),
    m=st.integers(1, 300),
    loc=st.sampled_from([0.0, 0.3, 1.0, -1.0]),
)
def test_mann_whitney_matches_scipy_asymptotic_with_continuity(
    seed: int, kind: str, n: int, m: int, loc: float
) -> None:
    rng = np.random.default_rng(seed)
    a, b = _sample(rng, kind, n, loc), _sample(rng, kind, m)
    assume(np.unique(np.concatenate([a, b])).size > 1)  # the all-tied case is pinned separately below
    want = sps.mannwhitneyu(a, b, alternative="greater", method="asymptotic", use_continuity=True).pvalue
    assert mann_whitney_greater(a, b) == pytest.approx(want, rel=1e-9, abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(
    a=st.lists(st.integers(-3, 3), min_size=1, max_size=30),
    b=st.lists(st.integers(-3, 3), min_size=1, max_size=30),
)
def test_mann_whitney_matches_scipy_on_small_heavily_tied_lists(a: list[int], b: list[int]) -> None:
    assume(len(set(a) | set(b)) > 1)
    want = sps.mannwhitneyu(a, b, alternative="greater", method="asymptotic", use_continuity=True).pvalue
    assert mann_whitney_greater(a, b) == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_mann_whitney_is_one_for_an_empty_side_and_small_for_a_clear_shift() -> None:
    assert mann_whitney_greater([], [1.0, 2.0]) == 1.0
    assert mann_whitney_greater([1.0, 2.0], []) == 1.0
    assert mann_whitney_greater([], []) == 1.0
    rng = np.random.default_rng(3)
    assert mann_whitney_greater(rng.normal(1, 1, 200), rng.normal(0, 1, 200)) < 1e-6
    assert mann_whitney_greater(rng.normal(0, 1, 200), rng.normal(1, 1, 200)) > 1 - 1e-6


@pytest.mark.parametrize(("a", "b"), [([1.0], [1.0]), ([2.0, 2.0, 2.0], [2.0, 2.0])])
def test_mann_whitney_all_tied_matches_scipy(a: list[float], b: list[float]) -> None:
    want = sps.mannwhitneyu(a, b, alternative="greater", method="asymptotic", use_continuity=True).pvalue
    assert want == 1.0
    assert mann_whitney_greater(a, b) == want


# ---------------------------------------------------------------- Hodges-Lehmann


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(KINDS),
    n=st.integers(1, 120),
    m=st.integers(1, 120),
    alphas=st.tuples(st.floats(0.001, 0.5), st.floats(0.001, 0.5)),
)
def test_hodges_lehmann_is_the_median_of_differences_and_its_interval_is_nested(
    seed: int, kind: str, n: int, m: int, alphas: tuple[float, float]
) -> None:
    rng = np.random.default_rng(seed)
    a, b = _sample(rng, kind, n, 0.5), _sample(rng, kind, m)
    small, large = sorted(alphas)
    shift, lo, hi = hodges_lehmann(a, b, alpha=large)
    assert shift == float(np.median(np.subtract.outer(a, b)))  # brute force, same arithmetic: exact
    assert lo <= shift <= hi
    shift2, lo2, hi2 = hodges_lehmann(a, b, alpha=small)
    assert shift2 == shift
    assert lo2 <= lo and hi <= hi2  # a smaller alpha never narrows the interval


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 80),
    m=st.integers(1, 80),
    const=st.integers(-1000, 1000),
    alpha=st.sampled_from([0.01, 0.05, 0.1, 0.2]),
)
def test_hodges_lehmann_is_shift_equivariant(seed: int, n: int, m: int, const: int, alpha: float) -> None:
    rng = np.random.default_rng(seed)
    # integer-valued data and constant: every difference (and half-sum of two) is exact, so equality is exact
    a = rng.integers(-50, 50, n).astype(np.float64)
    b = rng.integers(-50, 50, m).astype(np.float64)
    shift, lo, hi = hodges_lehmann(a, b, alpha=alpha)
    shifted = hodges_lehmann(a + const, b, alpha=alpha)
    assert shifted == (shift + const, lo + const, hi + const)
    # and on continuous data up to rounding
    x, y = rng.normal(0, 1, n), rng.gamma(2.0, 1.0, m)
    c = const / 7.0
    want = np.array(hodges_lehmann(x, y, alpha=alpha)) + c
    np.testing.assert_allclose(hodges_lehmann(x + c, y, alpha=alpha), want, rtol=0, atol=1e-9)


def test_hodges_lehmann_is_nan_without_data_and_matches_the_documented_example() -> None:
    assert all(math.isnan(v) for v in hodges_lehmann([], [1.0]))
    assert all(math.isnan(v) for v in hodges_lehmann([1.0], []))
    assert hodges_lehmann([3.0, 4.0, 5.0], [1.0, 2.0, 3.0], alpha=0.2) == (2.0, 0.0, 4.0)
    assert hodges_lehmann([5.0], [2.0]) == (3.0, 3.0, 3.0)


@pytest.mark.parametrize(
    ("name", "draw"),
    [
        ("normal", lambda rng, size: rng.normal(0.0, 1.0, size)),
        ("gamma", lambda rng, size: rng.gamma(2.0, 1.0, size)),
    ],
)
def test_hodges_lehmann_interval_covers_the_true_shift(
    name: str, draw: Callable[[np.random.Generator, int], Floats]
) -> None:
    # Observed with these seeds (400 reps): normal 0.940, gamma 0.950. Over 20,000 reps the coverage is
    # 0.950 (normal) and 0.954 (gamma): C = floor(596.31) = 596 rounds to the conservative side.
    true_shift, reps = 0.5, 400
    rng = np.random.default_rng(20240601)
    covered = 0
    for _ in range(reps):
        b = draw(rng, 40)
        a = draw(rng, 40) + true_shift
        _, lo, hi = hodges_lehmann(a, b, alpha=0.05)
        covered += lo <= true_shift <= hi
    assert covered / reps >= 0.93, name


# ---------------------------------------------------------------- Wilson


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 500),
    alpha=st.sampled_from([0.01, 0.05, 0.1, 0.32]),
)
def test_wilson_matches_scipy(data: st.DataObject, n: int, alpha: float) -> None:
    k = data.draw(st.integers(0, n), label="k")
    want = sps.binomtest(k, n).proportion_ci(confidence_level=1 - alpha, method="wilson")
    lo, hi = wilson(k, n, alpha=alpha)
    assert lo == pytest.approx(want.low, rel=1e-9, abs=1e-9)
    assert hi == pytest.approx(want.high, rel=1e-9, abs=1e-9)
    # containment of k/n holds up to rounding; the exact 0 / 1 ends at k = 0 / k = n are pinned below
    assert 0.0 <= lo <= k / n + 1e-15 and k / n - 1e-15 <= hi <= 1.0


@pytest.mark.parametrize("n", [3, 10, 13])
def test_wilson_ends_are_exact_at_zero_and_all_successes(n: int) -> None:
    assert wilson(0, n)[0] == 0.0
    assert wilson(n, n)[1] == 1.0


def test_wilson_without_observations_is_the_unit_interval() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    assert wilson(0, 0, alpha=0.01) == (0.0, 1.0)


# ---------------------------------------------------------------- two proportions


def _textbook_one_sided_p(ka: int, na: int, kb: int, nb: int) -> float:
    """Pooled z test of H1: p_a > p_b, written out: z = (pa - pb) / sqrt(p(1-p)(1/na + 1/nb)), p = 1 - Phi(z)."""
    pa, pb, p = ka / na, kb / nb, (ka + kb) / (na + nb)
    z = (pa - pb) / math.sqrt(p * (1 - p) * (1 / na + 1 / nb))
    return 0.5 * math.erfc(z / math.sqrt(2.0))


counts = st.integers(1, 3000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@settings(max_examples=300, deadline=None)
@given(a=counts, b=counts)
def test_two_proportions_p_value_is_the_one_sided_pooled_z_test(a: tuple[int, int], b: tuple[int, int]) -> None:
    (ka, na), (kb, nb) = a, b
    p, _ = two_proportions_greater(ka, na, kb, nb)
    if ka + kb in (0, na + nb):  # no failures at all (or only failures): documented as no evidence
        assert p == 1.0
        return
    assert p == pytest.approx(_textbook_one_sided_p(ka, na, kb, nb), rel=1e-9, abs=1e-12)
    # independent cross-check: the two-sided pooled z test is the uncorrected chi-square test of the 2x2 table
    table = np.array([[ka, na - ka], [kb, nb - kb]])
    two_sided = float(sps.chi2_contingency(table, correction=False).pvalue)
    pa, pb = ka / na, kb / nb
    if pa > pb:
        assert p == pytest.approx(two_sided / 2, rel=1e-9, abs=1e-12)
    elif pa < pb:
        assert p == pytest.approx(1 - two_sided / 2, rel=1e-9, abs=1e-12)
    else:
        assert p == pytest.approx(0.5, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(a=counts, b=counts, alpha=st.sampled_from([0.01, 0.05, 0.1, 0.32]))
def test_newcombe_interval_contains_the_difference_is_bounded_and_antisymmetric(
    a: tuple[int, int], b: tuple[int, int], alpha: float
) -> None:
    (ka, na), (kb, nb) = a, b
    _, (lo, hi) = two_proportions_greater(ka, na, kb, nb, alpha=alpha)
    d = ka / na - kb / nb
    assert -1.0 - 1e-12 <= lo <= d <= hi <= 1.0 + 1e-12
    _, (lo_swapped, hi_swapped) = two_proportions_greater(kb, nb, ka, na, alpha=alpha)
    assert (lo_swapped, hi_swapped) == (-hi, -lo)
    # and the interval is built from the two Wilson intervals (Newcombe 1998, method 10)
    la, ua = wilson(ka, na, alpha=alpha)
    lb, ub = wilson(kb, nb, alpha=alpha)
    assert lo == pytest.approx(d - math.hypot(ka / na - la, ub - kb / nb), abs=1e-12)
    assert hi == pytest.approx(d + math.hypot(ua - ka / na, kb / nb - lb), abs=1e-12)


def test_two_proportions_documented_values_and_empty_sides() -> None:
    assert two_proportions_greater(0, 0, 3, 10) == (1.0, (-1.0, 1.0))
    assert two_proportions_greater(3, 10, 0, 0) == (1.0, (-1.0, 1.0))
    p, (lo, hi) = two_proportions_greater(30, 1000, 10, 1000, alpha=0.05)
    assert (round(p, 5), round(lo, 4), round(hi, 4)) == (0.0007, 0.0078, 0.0333)
    assert two_proportions_greater(5, 100, 5, 100)[0] == 0.5


def test_newcombe_interval_covers_the_true_difference() -> None:
    # Observed with this seed (400 reps): 0.9725. Over 20,000 reps the coverage is 0.952.
    n, rate_a, rate_b, reps = 2000, 0.02, 0.01, 400
    rng = np.random.default_rng(20240602)
    covered = 0
    for _ in range(reps):
        ka, kb = int(rng.binomial(n, rate_a)), int(rng.binomial(n, rate_b))
        _, (lo, hi) = two_proportions_greater(ka, n, kb, n, alpha=0.05)
        covered += lo <= rate_a - rate_b <= hi
    assert covered / reps >= 0.93
