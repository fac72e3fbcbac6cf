"""Every registered detector honours the contract: River's shape, no alarm on long stationary streams, a prompt
alarm on an abrupt rise, exact JSON state, ``update_many`` equal to ``update``, and clear errors for bad input."""

from __future__ import annotations

import inspect
import json
import math
from typing import Any, ClassVar, cast

import numpy as np
import numpy.typing as npt
import pytest

from modelpilot.errors import ConflictError, InvalidInputError
from modelpilot.monitoring.detectors import DETECTORS, Detector, make_detector, register_detector

NAMES = sorted(DETECTORS)
# An abrupt rise is detected within this many events by every detector at its defaults (documented in
# docs/detectors-draft.md): error rate 10% → 40%, and latency +1 standard deviation.
MAX_DELAY = 400


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def errors(seed: int, n: int, p: float) -> npt.NDArray[np.float64]:
    return (rng(seed).random(n) < p).astype(np.float64)


def mixed_stream(seed: int) -> npt.NDArray[np.float64]:
    """A stream with rises, falls and changes of spread, so that every code path (alarms, resets, cuts) runs."""
    r = rng(seed)
    return np.concatenate(
        [
            (r.random(3000) < 0.1).astype(float),
            (r.random(2000) < 0.5).astype(float),
            (r.random(2000) < 0.05).astype(float),
            r.normal(100.0, 10.0, 2000),
            r.normal(130.0, 3.0, 1500),
            r.normal(90.0, 20.0, 1500),
        ]
    )


def alarms_by_update(detector: Detector, xs: npt.NDArray[np.float64]) -> list[int]:
    return [i for i, x in enumerate(xs.tolist()) if detector.update(x).drift_detected]


@pytest.fixture(params=NAMES)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_builtin_detectors_are_registered() -> None:
    assert {"adwin", "cusum", "page_hinkley"} <= set(DETECTORS)
    for key, cls in DETECTORS.items():
        assert cls.name == key


def test_river_shape(name: str) -> None:
    detector = make_detector(name)
    assert isinstance(detector, Detector)
    assert detector.update(0.0) is detector
    assert detector.update(1) is detector and detector.update(cast(Any, np.float32(0.5))) is detector
    assert (detector.n_seen, detector.n_detections, detector.drift_detected) == (3, 0, False)
    read_only = [n for n, v in inspect.getmembers(type(detector)) if isinstance(v, property)]
    assert {"drift_detected", "n_detections", "n_seen"} <= set(read_only)
    for prop in read_only:
        with pytest.raises(AttributeError):
            setattr(detector, prop, 1)
    assert type(detector).__name__ in repr(detector)


@pytest.mark.parametrize(
    ("stream", "make"),
    [
        ("errors 1%", lambda: errors(11, 200_000, 0.01)),
        ("errors 10%", lambda: errors(12, 200_000, 0.10)),
        ("errors 50%", lambda: errors(13, 200_000, 0.50)),
        ("latency", lambda: rng(14).normal(100.0, 10.0, 200_000)),
        ("skewed latency", lambda: rng(15).lognormal(3.0, 0.5, 200_000)),
    ],
)
def test_no_alarm_on_long_stationary_stream(name: str, stream: str, make: Any) -> None:
    detector = make_detector(name)
    assert detector.update_many(make()).tolist() == [], stream
    assert detector.n_detections == 0


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (lambda r: (r.random(5000) < 0.1).astype(float), lambda r: (r.random(2000) < 0.4).astype(float)),
        (lambda r: r.normal(100.0, 10.0, 5000), lambda r: r.normal(110.0, 10.0, 2000)),
    ],
    ids=["error rate 10% to 40%", "latency +1 sd"],
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_detects_an_abrupt_rise_promptly(name: str, before: Any, after: Any, seed: int) -> None:
    r = rng(seed)
    xs = np.concatenate([before(r), after(r)])
    hits = make_detector(name).update_many(xs).tolist()
    assert hits, "no alarm"
    assert 5000 <= hits[0] < 5000 + MAX_DELAY, hits[:3]


def test_drift_detected_is_true_only_right_after_the_detecting_update(name: str) -> None:
    xs = np.concatenate([errors(4, 3000, 0.1), np.ones(400)])
    detector = make_detector(name)
    flags = [detector.update(x).drift_detected for x in xs.tolist()]
    first = flags.index(True)
    assert first >= 3000
    assert flags[first + 1] is False
    assert detector.n_detections == sum(flags) >= 1


@pytest.mark.parametrize("cut", [1, 2500, 4000, 9000])
def test_state_round_trip_gives_exactly_the_same_outputs(name: str, cut: int) -> None:
    xs = mixed_stream(5)
    original = make_detector(name)
    first = alarms_by_update(original, xs[:cut])
    state = original.to_state()
    text = json.dumps(state, allow_nan=False)
    restored = type(original).from_state(json.loads(text))
    assert restored.to_state() == state
    assert restored.drift_detected == original.drift_detected
    rest_original = alarms_by_update(original, xs[cut:])
    rest_restored = alarms_by_update(restored, xs[cut:])
    assert rest_restored == rest_original
    assert json.dumps(restored.to_state()) == json.dumps(original.to_state())
    assert first or rest_original  # the stream does exercise alarms


def test_state_round_trip_right_after_a_detection(name: str) -> None:
    xs = np.concatenate([errors(6, 3000, 0.1), np.ones(400), errors(7, 3000, 0.1)])
    original = make_detector(name)
    i = next(i for i, x in enumerate(xs.tolist()) if original.update(x).drift_detected)
    restored = type(original).from_state(json.loads(json.dumps(original.to_state())))
    assert restored.drift_detected
    assert alarms_by_update(restored, xs[i + 1 :]) == alarms_by_update(original, xs[i + 1 :])


@pytest.mark.parametrize("seed", [8, 9])
def test_update_many_equals_looping_update(name: str, seed: int) -> None:
    xs = mixed_stream(seed)
    looped = make_detector(name)
    expected = alarms_by_update(looped, xs)
    batched = make_detector(name)
    got: list[int] = []
    pos = 0
    for size in (1, 2, 997, 1, 4096, 3, 50_000):
        got += (batched.update_many(xs[pos : pos + size]) + pos).tolist()
        pos += size
    assert got == expected and expected
    assert batched.to_state() == looped.to_state()
    assert (batched.n_seen, batched.n_detections, batched.drift_detected) == (
        looped.n_seen,
        looped.n_detections,
        looped.drift_detected,
    )


def test_update_many_takes_ints_bools_and_empty_arrays(name: str) -> None:
    detector = make_detector(name)
    assert detector.update_many(np.array([], dtype=float)).tolist() == []
    assert detector.update_many(np.array([True, False, True])).tolist() == []
    assert detector.update_many([0, 1, 0]).dtype == np.int64
    assert detector.n_seen == 6


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "0.5", None])
def test_non_finite_values_are_refused_without_touching_state(name: str, bad: Any) -> None:
    detector = make_detector(name)
    detector.update_many(errors(10, 500, 0.2))
    before = detector.to_state()
    with pytest.raises(InvalidInputError, match="update got x="):
        detector.update(bad)
    if not isinstance(bad, str | None):
        with pytest.raises(InvalidInputError, match=r"xs\[2\]="):
            detector.update_many(np.array([0.0, 1.0, bad, 0.0]))
    assert detector.to_state() == before


def test_update_many_refuses_arrays_that_are_not_1d_numbers(name: str) -> None:
    detector = make_detector(name)
    for bad in (np.zeros((2, 2)), np.array(["a", "b"]), np.float64(1.0)):
        with pytest.raises(InvalidInputError, match="1-D array of numbers"):
            detector.update_many(bad)


def numeric_params(cls: type) -> list[str]:
    sig = inspect.signature(cls)
    return [p.name for p in sig.parameters.values() if isinstance(p.default, int | float) and p.name != "direction"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, "1", True, -1e300])
def test_bad_numeric_parameters_are_refused_naming_the_parameter(name: str, bad: Any) -> None:
    cls = DETECTORS[name]
    params = numeric_params(cls)
    assert params
    for param in params:
        with pytest.raises(InvalidInputError, match=rf"{param}=") as info:
            cls(**{param: bad})
        assert "must be" in info.value.message and info.value.hint


def test_bad_direction_and_unknown_parameters_are_refused(name: str) -> None:
    with pytest.raises(InvalidInputError, match="direction='sideways'"):
        make_detector(name, direction="sideways")
    with pytest.raises(InvalidInputError, match="has no parameter 'bogus'") as info:
        make_detector(name, bogus=1)
    assert "its parameters are" in info.value.hint


def test_malformed_state_is_refused(name: str) -> None:
    cls = DETECTORS[name]
    state = make_detector(name).update(0.5).to_state()
    other = next(n for n in NAMES if n != name) if len(NAMES) > 1 else "other"
    broken: list[Any] = [
        None,
        {**state, "detector": other},
        {**state, "version": 99},
        {**state, "state": {}},
        {**state, "state": {**state["state"], "n_seen": -1}},
        {**state, "params": {**state["params"], "nonsense": 1}},
    ]
    for bad in broken:
        with pytest.raises(InvalidInputError, match="malformed"):
            cls.from_state(bad)


def test_unknown_detector_names_the_known_ones() -> None:
    with pytest.raises(InvalidInputError, match="unknown detector 'nope'") as info:
        make_detector("nope")
    for known in NAMES:
        assert known in info.value.hint


def test_registry_refuses_a_duplicate_name(name: str) -> None:
    cls = DETECTORS[name]

    class Impostor(cls):  # type: ignore[valid-type,misc]
        pass

    with pytest.raises(ConflictError, match=f"'{name}' is already registered"):
        register_detector(Impostor)
    assert DETECTORS[name] is cls


def test_registry_accepts_a_new_name() -> None:
    base = DETECTORS["cusum"]

    class Upper(base):  # type: ignore[valid-type,misc]
        name: ClassVar[str] = "test_upper_cusum"

    try:
        assert register_detector(Upper) is Upper
        assert isinstance(make_detector("test_upper_cusum", direction="up"), Upper)
        with pytest.raises(ConflictError):
            register_detector(Upper)
    finally:
        from modelpilot.monitoring.detectors import base as base_module

        base_module._DETECTORS.pop("test_upper_cusum", None)
    assert "test_upper_cusum" not in DETECTORS
