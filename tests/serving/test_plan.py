"""The traffic plan and router: validation, and the routing properties the issue asks for (Hypothesis)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpilot.errors import InvalidInputError
from modelpilot.serving.plan import Router, Shadow, TrafficPlan, sticky_point

weights = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"stable": 0}, "stable"),
        ({"stable": 1, "canary": 2, "weight": 101}, "weight"),
        ({"stable": 1, "canary": 2, "weight": -1}, "weight"),
        ({"stable": 1, "canary": 2, "weight": math.nan}, "weight"),
        ({"stable": 1, "weight": 5}, "weight"),
        ({"stable": 1, "canary": 1, "weight": 5}, "canary"),
        ({"stable": 1, "shadows": (Shadow(1),)}, "shadows"),
        ({"stable": 1, "shadows": (Shadow(2), Shadow(2, 0.5))}, "shadows"),
        ({"stable": 1, "sticky_header": "X-A", "sticky_field": "user"}, "sticky"),
        ({"stable": 1, "sticky_header": " "}, "sticky_header"),
    ],
)
def test_invalid_plans_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        TrafficPlan(model="m", **kwargs)  # type: ignore[arg-type]
    assert err.value.message.startswith(field)
    assert err.value.hint


@pytest.mark.parametrize("rate", [0.0, -0.1, 1.5, math.inf])
def test_shadow_rate_must_be_a_share(rate: float) -> None:
    with pytest.raises(InvalidInputError, match="rate"):
        Shadow(3, rate)


def test_plan_json_round_trip_and_roles() -> None:
    plan = TrafficPlan(model="m", stable=1, canary=2, weight=2.5, shadows=(Shadow(3, 0.1),), sticky_field="user")
    assert TrafficPlan.from_json(plan.to_json()) == plan
    assert plan.versions == (1, 2, 3)
    assert [plan.role_of(v) for v in (1, 2, 3, 4)] == ["stable", "canary", "shadow", None]


@settings(max_examples=40, deadline=None)
@given(weight=weights, seed=st.integers(0, 2**32 - 1))
def test_observed_split_converges_to_the_weight(weight: float, seed: int) -> None:
    router = Router(TrafficPlan(model="m", stable=1, canary=2, weight=weight), rng=random.Random(seed))
    n = 20_000
    share = sum(router.choose().variant == "canary" for _ in range(n)) / n
    p = weight / 100
    # five binomial standard deviations (plus a floor for p near 0 or 1): fails about once in 3.5 million runs
    assert abs(share - p) <= 5 * math.sqrt(p * (1 - p) / n) + 1e-9


@settings(max_examples=40, deadline=None)
@given(weight=weights, key=st.text(max_size=40), seed=st.integers(0, 2**32 - 1))
def test_sticky_keys_always_land_on_the_same_variant(weight: float, key: str, seed: int) -> None:
    plan = TrafficPlan(model="m", stable=1, canary=2, weight=weight, sticky_header="X-User")
    first = Router(plan, rng=random.Random(seed)).choose(key)
    other = Router(plan, rng=random.Random(seed + 1))  # another replica, another random state
    assert all(other.choose(key) == first for _ in range(20))
    assert (first.variant == "canary") == (sticky_point("m", key) < weight)


@settings(max_examples=30, deadline=None)
@given(low=weights, high=weights, keys=st.lists(st.text(max_size=12), max_size=50))
def test_raising_the_weight_only_moves_keys_to_the_canary(low: float, high: float, keys: list[str]) -> None:
    low, high = min(low, high), max(low, high)
    before = Router(TrafficPlan(model="m", stable=1, canary=2, weight=low, sticky_header="k"))
    after = Router(TrafficPlan(model="m", stable=1, canary=2, weight=high, sticky_header="k"))
    for key in keys:
        if before.choose(key).variant == "canary":
            assert after.choose(key).variant == "canary"


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), key=st.none() | st.text(max_size=8))
def test_weight_zero_never_routes_to_the_canary(seed: int, key: str | None) -> None:
    router = Router(TrafficPlan(model="m", stable=1, canary=2, weight=0.0, sticky_header="k"), rng=random.Random(seed))
    assert all(router.choose(key).version == 1 for _ in range(200))


def test_weight_hundred_always_routes_to_the_canary() -> None:
    router = Router(TrafficPlan(model="m", stable=1, canary=2, weight=100.0))
    assert {router.choose().version for _ in range(500)} == {2}


@settings(max_examples=20, deadline=None)
@given(rate=st.floats(min_value=0.01, max_value=1.0), seed=st.integers(0, 2**32 - 1))
def test_shadow_sampling_follows_the_rate(rate: float, seed: int) -> None:
    router = Router(TrafficPlan(model="m", stable=1, shadows=(Shadow(3, rate),)), rng=random.Random(seed))
    n = 10_000
    share = sum(bool(router.shadows()) for _ in range(n)) / n
    assert abs(share - rate) <= 5 * math.sqrt(rate * (1 - rate) / n) + 1e-9


def test_sticky_point_is_salted_by_model() -> None:
    points = {sticky_point(m, "same-user") for m in ("a", "b", "c", "d")}
    assert len(points) == 4
    assert all(0 <= p < 100 for p in points)
