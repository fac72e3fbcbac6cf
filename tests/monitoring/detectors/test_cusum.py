"""CUSUM against direct computations of the tabular recursion, with a known and with a self-starting target."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from modelpilot.errors import InvalidInputError
from modelpilot.monitoring.detectors import CUSUM


def direct(
    xs: npt.NDArray[np.float64], mean: npt.NDArray[np.float64], sd: npt.NDArray[np.float64], k: float, start: int
) -> tuple[list[float], list[float]]:
    """Montgomery's recursion C⁺ = max(0, C⁺ + z - k), C⁻ = max(0, C⁻ - z - k), from value number ``start`` on."""
    cp = cm = 0.0
    ups, downs = [], []
    for t, x in enumerate(xs):
        if t + 1 >= start and sd[t] > 0:
            z = (x - mean[t]) / sd[t]
            cp, cm = max(0.0, cp + z - k), max(0.0, cm - z - k)
        ups.append(cp)
        downs.append(cm)
    return ups, downs


def test_known_target_follows_the_tabular_recursion() -> None:
    xs = np.random.default_rng(1).normal(0.3, 1.0, 3000)
    detector = CUSUM(k=0.5, h=1e6, target=0.0, sigma=1.0, min_samples=1)
    got = [(detector.update(x).upper, detector.lower) for x in xs.tolist()]
    ups, downs = direct(xs, np.zeros(xs.size), np.ones(xs.size), 0.5, 1)
    np.testing.assert_allclose([g[0] for g in got], ups, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose([g[1] for g in got], downs, rtol=1e-9, atol=1e-9)
    assert detector.mean == 0.0 and detector.std == 1.0


def test_self_starting_target_is_the_running_mean_and_sd() -> None:
    xs = np.random.default_rng(2).normal(50.0, 5.0, 2000)
    detector = CUSUM(k=0.25, h=1e6, min_samples=30)
    got = []
    for x in xs.tolist():
        detector.update(x)
        got.append((detector.upper, detector.lower, detector.mean, detector.std))
    n = np.arange(1, xs.size + 1)
    mean = np.cumsum(xs) / n
    sd = np.array([xs[: i + 1].std(ddof=1) if i else 0.0 for i in range(xs.size)])
    ups, downs = direct(xs, mean, sd, 0.25, 30)
    np.testing.assert_allclose([g[2] for g in got], mean, rtol=1e-12)
    np.testing.assert_allclose([g[3] for g in got], sd, rtol=1e-9)
    np.testing.assert_allclose([g[0] for g in got], ups, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose([g[1] for g in got], downs, rtol=1e-8, atol=1e-8)


def test_alarm_is_the_first_crossing_of_the_bernstein_widened_threshold() -> None:
    r = np.random.default_rng(3)
    xs = np.concatenate([(r.random(1000) < 0.1), (r.random(1000) < 0.3)]).astype(float)
    k, h, p, sigma = 0.2, 8.0, 0.1, 0.3
    ups, _ = direct(xs, np.full(xs.size, p), np.full(xs.size, sigma), k, 1)
    highs = np.maximum.accumulate(xs)
    limit = h * (1.0 + 2.0 / 3.0 * k * np.maximum(highs - p, 0.0) / sigma)
    expected = int(np.flatnonzero(np.array(ups) > limit)[0])
    detector = CUSUM(k=k, h=h, target=p, sigma=sigma, min_samples=1, direction="up")
    hits = detector.update_many(xs).tolist()
    assert hits[0] == expected


def test_two_sided_detects_a_fall_and_one_sided_ignores_it() -> None:
    r = np.random.default_rng(4)
    xs = np.concatenate([r.normal(100.0, 10.0, 3000), r.normal(80.0, 10.0, 1000)])
    assert CUSUM().update_many(xs).tolist()[0] >= 3000
    assert CUSUM(direction="up").update_many(xs).tolist() == []
    assert CUSUM(direction="down").update_many(xs).tolist()[0] >= 3000


def test_restarts_after_a_detection() -> None:
    xs = np.concatenate([np.random.default_rng(5).normal(0.0, 1.0, 1000), np.full(200, 5.0)])
    detector = CUSUM()
    hit = detector.update_many(xs).tolist()[0]
    detector = CUSUM()
    detector.update_many(xs[: hit + 1])
    assert detector.drift_detected and detector.upper > 0
    detector.update(7.0)
    assert (detector.mean, detector.std, detector.upper, detector.lower) == (7.0, 0.0, 0.0, 0.0)
    assert not detector.drift_detected


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"k": -0.1}, "k=-0.1"),
        ({"h": 0.0}, "h=0.0"),
        ({"sigma": 0.0}, "sigma=0.0"),
        ({"target": float("nan")}, "target=nan"),
        ({"min_samples": 1}, "min_samples=1"),
        ({"min_samples": 2.5}, "min_samples=2.5"),
    ],
)
def test_bad_parameters(params: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        CUSUM(**params)  # type: ignore[arg-type]


def test_known_sigma_allows_alarms_from_the_first_value() -> None:
    detector = CUSUM(k=0.0, h=1.0, target=0.0, sigma=1.0, min_samples=1, direction="up")
    assert detector.update(0.5).drift_detected is False
    assert detector.update(2.0).drift_detected is True
