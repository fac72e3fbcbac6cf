"""ADWIN against direct computations on the raw window: its estimates, its cut test, its shrink after a change and
its memory."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from modelpilot.errors import InvalidInputError
from modelpilot.monitoring.detectors import ADWIN


def splits(detector: ADWIN) -> list[int]:
    """Sizes of the older part at every bucket boundary, oldest first (from the bucket counts only)."""
    sizes = [1 << i for i in range(len(detector._hist.rows) - 1, -1, -1) for _ in detector._hist.rows[i]]
    return list(np.cumsum(sizes)[:-1])


DELTA, MIN_EFFECT = 2e-4, 0.1  # the defaults


def passes(window: npt.NDArray[np.float64], n0: int) -> bool:
    """The cut test of Bifet & Gavaldà (2007), Bernstein form, with the minimum effect, computed directly from the
    window's values."""
    n = window.size
    w0, w1 = window[:n0], window[n0:]
    inv_m = 1.0 / w0.size + 1.0 / w1.size
    log_term = math.log(2.0 * math.log(n) / DELTA)
    eps = math.sqrt(2.0 * window.var() * log_term * inv_m) + 2.0 * np.ptp(window) * log_term * inv_m / 3.0
    eps = max(eps, MIN_EFFECT * window.std())
    return bool(abs(w1.mean() - w0.mean()) > eps * (1 + 1e-9))


def stream(seed: int) -> npt.NDArray[np.float64]:
    r = np.random.default_rng(seed)
    return np.concatenate(
        [(r.random(2500) < 0.1), (r.random(1500) < 0.45), (r.random(1500) < 0.2), (r.random(1000) < 0.02)]
    ).astype(float)


def test_defaults_are_the_documented_ones() -> None:
    params = ADWIN().to_state()["params"]
    assert (params["delta"], params["min_effect"], params["clock"], params["direction"]) == (DELTA, MIN_EFFECT, 1, "up")


@pytest.mark.parametrize("seed", [1, 2])
def test_window_estimates_match_the_raw_window(seed: int) -> None:
    xs = stream(seed)
    detector = ADWIN(direction="both")
    for t, x in enumerate(xs.tolist()):
        detector.update(x)
        if t % 97 == 0 or detector.drift_detected:
            window = xs[t + 1 - detector.width : t + 1]
            assert detector.estimation == pytest.approx(window.mean(), rel=1e-12, abs=1e-12)
            assert detector.variance == pytest.approx(window.var(), rel=1e-9, abs=1e-12)
            assert sum(len(row) << i for i, row in enumerate(detector._hist.rows)) == detector.width
            assert all(len(row) <= 5 for row in detector._hist.rows)


def test_no_split_passes_the_test_after_an_update() -> None:
    xs = stream(3)
    detector = ADWIN(direction="both")
    checked = 0
    for t, x in enumerate(xs.tolist()):
        detector.update(x)
        if t % 50 == 0 or detector.drift_detected:
            window = xs[t + 1 - detector.width : t + 1]
            assert not any(passes(window, n0) for n0 in splits(detector))
            checked += 1
    assert checked > 100 and detector.n_detections >= 2


def test_the_detecting_update_is_the_first_where_a_split_passes() -> None:
    xs = stream(4)
    detector = ADWIN(direction="both")
    for t, x in enumerate(xs.tolist()):
        width_before = detector.width
        shadow = ADWIN.from_state(detector.to_state())
        shadow._hist.insert(x)  # the window after the insert, before the test
        window = xs[t + 1 - shadow.width : t + 1]
        expected = any(passes(window, n0) for n0 in splits(shadow))
        assert detector.update(x).drift_detected == expected, t
        if expected:
            assert detector.width < width_before
            break
    else:
        pytest.fail("no change detected")


def test_window_keeps_only_the_new_values_after_a_change() -> None:
    r = np.random.default_rng(5)
    xs = np.concatenate([(r.random(6000) < 0.1), (r.random(1500) < 0.6)]).astype(float)
    detector = ADWIN()
    hits = []
    for t, x in enumerate(xs.tolist()):
        if detector.update(x).drift_detected:
            hits.append(t)
            new = t - 6000 + 1  # values of the new concept seen so far
            assert new // 2 <= detector.width <= new + 64, (new, detector.width)
    assert len(hits) == 1 and 6000 <= hits[0] < 6100
    assert 1400 <= detector.width <= 1500
    assert detector.estimation == pytest.approx(xs[-detector.width :].mean())


def test_a_fall_shrinks_the_window_without_an_alarm_when_watching_rises() -> None:
    r = np.random.default_rng(6)
    xs = np.concatenate([(r.random(5000) < 0.4), (r.random(1000) < 0.05)]).astype(float)
    up = ADWIN()
    assert up.update_many(xs).tolist() == [] and up.width < 1100
    down = ADWIN(direction="down")
    assert down.update_many(xs).tolist()[0] >= 5000 and down.width == up.width


def test_memory_grows_logarithmically() -> None:
    detector = ADWIN()
    counts = {}
    done = 0
    for width in (1_000, 10_000, 100_000, 400_000):
        detector.update_many(np.zeros(width - done))
        done = width
        assert detector.width == width
        counts[width] = detector.n_buckets
        assert counts[width] <= 5 * (math.log2(width / 5) + 1)
    per_decade = [counts[10_000] - counts[1_000], counts[100_000] - counts[10_000]]
    assert all(d <= 5 * math.log2(10) + 5 for d in per_decade)
    assert counts[400_000] < 100


def test_min_effect_ignores_a_significant_but_negligible_shift() -> None:
    r = np.random.default_rng(7)
    xs = np.concatenate([r.normal(0.0, 1.0, 100_000), r.normal(0.07, 1.0, 100_000)])
    assert ADWIN(min_effect=0.0).update_many(xs).tolist()
    assert ADWIN().update_many(xs).tolist() == []


def test_clock_tests_every_clock_values() -> None:
    xs = np.concatenate([np.zeros(1000), np.ones(100)])
    every = ADWIN().update_many(xs).tolist()
    sparse = ADWIN(clock=32).update_many(xs).tolist()
    assert sparse[0] >= every[0] and (sparse[0] + 1) % 32 == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"delta": 0.0}, "delta=0.0"),
        ({"delta": 1.0}, "delta=1.0"),
        ({"clock": 0}, "clock=0"),
        ({"max_buckets": 1}, "max_buckets=1"),
    ],
)
def test_bad_parameters(params: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        ADWIN(**params)  # type: ignore[arg-type]
