"""Each drift statistic against scipy or a direct formula, on the binned data and on the raw data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from modelpilot.monitoring.columns import numeric_column, numeric_slots
from modelpilot.monitoring.drift import Baseline
from modelpilot.monitoring.profile import build_profile
from modelpilot.monitoring.stats import chi2_test, hellinger, js_distance, ks_test, psi, wasserstein

RNG = np.random.default_rng(7)


def _hist_pair(shift: float, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ref = RNG.normal(0, 1, 4000)
    cur = RNG.normal(shift, scale, 1500)
    col = numeric_column("x", "feature", ref)
    edges = np.asarray(col.edges)
    cur_counts = np.bincount(numeric_slots(edges, cur), minlength=col.slots)
    return ref, cur, np.asarray(col.counts), cur_counts


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0])
def test_histogram_distances_match_direct_formulas(shift: float) -> None:
    _, _, r, c = _hist_pair(shift)
    p, q = r / r.sum(), c / c.sum()
    pf, qf = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
    assert psi(r[None], c[None])[0] == pytest.approx(float(((qf - pf) * np.log(qf / pf)).sum()), rel=1e-12)
    assert js_distance(r[None], c[None])[0] == pytest.approx(float(jensenshannon(p, q, base=2)), abs=1e-12)
    direct_h = float(np.sqrt(0.5 * ((np.sqrt(p) - np.sqrt(q)) ** 2).sum()))
    assert hellinger(r[None], c[None])[0] == pytest.approx(direct_h, abs=1e-12)


@pytest.mark.parametrize("shift", [0.0, 0.2, 0.6])
def test_ks_matches_scipy_exactly_on_binned_values_and_within_the_bound_on_raw(shift: float) -> None:
    ref, cur, r, c = _hist_pair(shift)
    col = numeric_column("x", "feature", ref)
    edges = np.asarray(col.edges)
    # on data discretised to the slots, scipy sees exactly our two step functions
    d, p = ks_test(r[None], c[None])
    want = sps.ks_2samp(numeric_slots(edges, ref), numeric_slots(edges, cur), method="asymp")
    assert d[0] == pytest.approx(want.statistic, abs=1e-12)
    assert abs(p[0] - want.pvalue) <= (2e-4 if want.pvalue < 0.05 else 0.005)  # the documented tolerance
    # on raw data: within the largest slot mass of either histogram (the documented bound)
    raw = sps.ks_2samp(ref, cur).statistic
    bound = max((r / r.sum()).max(), (c / c.sum()).max())
    assert abs(d[0] - raw) <= bound + 1e-12
    assert d[0] <= raw + 1e-12  # binned KS never exceeds the raw one


@pytest.mark.parametrize("shift", [0.0, 0.5, 3.0])
def test_wasserstein_matches_scipy_on_binned_positions_and_within_two_bin_widths_on_raw(shift: float) -> None:
    ref, cur, _, _ = _hist_pair(shift)
    prof = build_profile({"x": ref}, numeric=["x"])
    base = Baseline(prof)
    sketch = base.sketch().update({"x": cur}, rows=cur.size)
    got = base.compare(sketch)[0].wasserstein
    col = prof.column("x")
    assert col.kind == "numeric"
    edges = np.asarray(col.edges)
    positions = np.array([min(edges[0], cur.min()), *edges[1:], max(edges[-1], cur.max())])
    ws = sps.wasserstein_distance(positions[numeric_slots(edges, ref)], positions[numeric_slots(edges, cur)])
    assert got == pytest.approx(ws / col.scale, rel=1e-9, abs=1e-12)
    raw = sps.wasserstein_distance(ref, cur) / col.scale
    inside = cur[(cur >= edges[0]) & (cur <= edges[-1])]
    widest = float(np.diff(edges).max()) if inside.size else 0.0
    assert got is not None and abs(got - raw) <= 2 * widest / col.scale + 1e-9
    assert wasserstein(np.array([[0, 5, 5, 0]]), np.array([[0, 5, 5, 0]]), np.array([[0.0, 1, 2, 2]]), np.ones(1))[
        0
    ] == pytest.approx(0.0)


def test_chi2_matches_scipy_contingency_and_drops_empty_categories() -> None:
    ref = np.array([[400, 300, 200, 0, 100]])
    cur = np.array([[30, 35, 20, 0, 15]])
    stat, p = chi2_test(ref, cur)
    want = sps.chi2_contingency(np.vstack([ref, cur])[:, [0, 1, 2, 4]], correction=False)
    assert stat[0] == pytest.approx(want.statistic, rel=1e-12)
    assert p[0] == pytest.approx(want.pvalue, rel=1e-9)
    stat, p = chi2_test(np.array([[10, 0]]), np.array([[0, 0]]))  # empty window: no evidence
    assert stat[0] == 0.0 and p[0] == 1.0


def test_rows_of_different_widths_are_independent() -> None:
    """Statistics are per row: padding one column's histogram with empty slots changes nothing."""
    a_r, a_c = np.array([10, 20, 30, 0, 0]), np.array([30, 20, 10, 0, 0])
    b_r, b_c = np.array([5, 5, 5, 5, 5]), np.array([1, 2, 3, 4, 5])
    both = psi(np.vstack([a_r, b_r]), np.vstack([a_c, b_c]))
    assert both[0] == pytest.approx(psi(a_r[None, :3], a_c[None, :3])[0])
    assert both[1] == pytest.approx(psi(b_r[None], b_c[None])[0])
    d, _ = ks_test(np.vstack([a_r, b_r]), np.vstack([a_c, b_c]))
    assert d[0] == pytest.approx(ks_test(a_r[None, :3], a_c[None, :3])[0][0])


@pytest.mark.parametrize(("n", "m"), [(30, 4000), (100, 5000), (1000, 5000), (1000, 50000), (5000, 5000)])
def test_ks_p_value_is_within_the_documented_tolerance_of_scipy_over_the_whole_range(n: int, m: int) -> None:
    """Stephens' corrected limiting distribution vs scipy's asymptotic two-sample p-value, on a grid of D."""
    d = np.linspace(0.001, 0.5, 2000)
    en = round(n * m / (n + m))
    want = sps.kstwo.sf(d, en)
    # two-slot histograms whose cumulative distributions differ by exactly D at the edge between the slots
    ref = np.column_stack([m * (0.5 + d / 2), m * (0.5 - d / 2)])
    cur = np.column_stack([n * (0.5 - d / 2), n * (0.5 + d / 2)])
    stat, got = ks_test(ref, cur)
    np.testing.assert_allclose(stat, d, atol=1e-12)
    assert np.abs(got - want).max() <= (0.005 if n >= 1000 else 0.02)
    assert np.abs(got - want)[want < 0.05].max() <= 2e-4
