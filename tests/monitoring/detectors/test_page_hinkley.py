"""Page-Hinkley against a direct computation of its cumulative sum and threshold."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from modelpilot.errors import InvalidInputError
from modelpilot.monitoring.detectors import PageHinkley


def running(xs: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    n = np.arange(1, xs.size + 1)
    mean = np.cumsum(xs) / n
    sd = np.array([xs[: i + 1].std(ddof=1) if i else 0.0 for i in range(xs.size)])
    return mean, sd


def test_statistic_and_first_alarm_match_the_direct_formula() -> None:
    r = np.random.default_rng(1)
    xs = np.concatenate([(r.random(1500) < 0.2), (r.random(1500) < 0.35)]).astype(float)
    delta, lam, start = 0.05, 30.0, 50
    mean, sd = running(xs)
    g = np.where(np.arange(1, xs.size + 1) >= start, xs - mean - delta * sd, 0.0)
    u = np.cumsum(g)
    stat = u - np.minimum(np.minimum.accumulate(u), 0.0)
    limit = lam * (sd + 2.0 / 3.0 * delta * (np.maximum.accumulate(xs) - mean))
    crossing = np.flatnonzero((stat > limit) & (np.arange(1, xs.size + 1) >= start))
    detector = PageHinkley(delta=delta, threshold=lam, min_samples=start)
    seen = []
    for x in xs[: crossing[0]].tolist():
        seen.append(detector.update(x).statistic)
        assert not detector.drift_detected
    np.testing.assert_allclose(seen, stat[: crossing[0]], rtol=1e-8, atol=1e-8)
    assert detector.update(xs[crossing[0]]).drift_detected
    np.testing.assert_allclose(detector.mean, mean[crossing[0]], rtol=1e-12)
    np.testing.assert_allclose(detector.std, sd[crossing[0]], rtol=1e-9)


def test_a_fall_is_a_mirrored_rise() -> None:
    r = np.random.default_rng(2)
    xs = np.concatenate([r.normal(20.0, 2.0, 4000), r.normal(17.0, 2.0, 1000), r.normal(21.0, 2.0, 2000)])
    down = PageHinkley(direction="down").update_many(xs).tolist()
    assert down and down == PageHinkley(direction="up").update_many(-xs).tolist()
    both = PageHinkley(direction="both").update_many(xs).tolist()
    assert both[0] == down[0]


def test_no_alarm_before_min_samples() -> None:
    xs = np.r_[np.zeros(50), np.ones(100)]
    assert PageHinkley(threshold=1.0, min_samples=150).update_many(xs).tolist() == []
    assert PageHinkley(threshold=1.0, min_samples=60).update_many(xs).tolist()[0] >= 59


def test_skewed_stream_gets_a_wider_threshold() -> None:
    """Rare errors (1%) cluster now and then; the Bernstein allowance keeps them from raising alarms."""
    xs = (np.random.default_rng(3).random(300_000) < 0.01).astype(float)
    assert PageHinkley().update_many(xs).tolist() == []


@pytest.mark.parametrize(
    ("params", "message"),
    [({"delta": -0.1}, "delta=-0.1"), ({"threshold": 0}, "threshold=0"), ({"min_samples": 1}, "min_samples=1")],
)
def test_bad_parameters(params: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        PageHinkley(**params)  # type: ignore[arg-type]
