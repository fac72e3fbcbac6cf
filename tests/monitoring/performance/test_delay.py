"""LabelDelay: buckets and quantiles, refused input, and merge equal to one summary of both."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpilot.errors import InvalidInputError
from modelpilot.monitoring.performance.delay import DELAY_BUCKETS_S, LabelDelay


def test_delay_buckets_and_quantiles() -> None:
    d = LabelDelay().update([0.5, 2.0, 2.0, 3600.0, -3.0])
    assert d.count == 5 and d.negative == 1 and d.max == 3600.0 and d.mean == pytest.approx(3604.5 / 5)
    buckets = dict(d.buckets)
    assert buckets[1.0] == 2 and buckets[10 ** (2 / 4)] == 4 and buckets[math.inf] == 5
    assert d.quantile(0.5) == pytest.approx(10 ** (2 / 4)) and d.quantile(1.0) == 3600.0
    assert LabelDelay().quantile(0.5) is None and len(DELAY_BUCKETS_S) == 29
    with pytest.raises(InvalidInputError, match="q"):
        d.quantile(2.0)
    with pytest.raises(InvalidInputError, match="delays"):
        d.update([math.nan])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-10, 1e8, allow_nan=False), max_size=30),
    st.lists(st.floats(-10, 1e8, allow_nan=False), max_size=30),
)
def test_delay_merge_equals_one_summary_of_both(a: list[float], b: list[float]) -> None:
    merged = LabelDelay().update(a).merge(LabelDelay().update(b))
    whole = LabelDelay().update(a + b)
    assert merged.count == whole.count and merged.max == whole.max and merged.negative == whole.negative
    assert merged.buckets == whole.buckets and merged.sum == pytest.approx(whole.sum, rel=1e-12, abs=1e-9)
    assert LabelDelay.from_state(json.loads(json.dumps(merged.to_state()))).buckets == merged.buckets
