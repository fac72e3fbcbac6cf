"""The duplicate filter: bounded, exact within its capacity, the same after a restart, and small in a snapshot."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from modelpilot.monitoring.dedupe import IdFilter


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=200), st.integers(1, 20), st.integers(0, 200))
def test_it_answers_as_a_list_of_the_last_capacity_identities_would(ids: list[int], capacity: int, cut: int) -> None:
    f = IdFilter(capacity)
    window: list[int] = []  # the reference: the last `capacity` distinct identities taken, oldest first
    for n, i in enumerate(ids):
        if n == cut:  # a restart in the middle: the snapshot holds what it needs
            f = IdFilter.from_state(json.loads(json.dumps(f.to_state())), capacity=capacity)
        expected = i in window
        assert f.seen("m", "stable", f"r{i}") is expected
        if not expected:
            window.append(i)
            if len(window) > capacity:
                window.pop(0)
        assert len(f) == len(window)


def test_a_snapshot_holds_eight_bytes_per_identity_however_long_the_ids() -> None:
    f = IdFilter(100_000)
    for i in range(150_000):
        f.seen("credit", "stable", f"{i:0200d}")  # 200-character ids
    size = len(json.dumps(f.to_state()))
    assert len(f) == 100_000 and size < 100_000 * 8 * 4 / 3 + 100  # base64 of 8 bytes each: ~1.07 MB at most
    assert f.seen("credit", "stable", f"{149_999:0200d}") and not f.seen("credit", "stable", f"{0:0200d}")


def test_older_snapshots_with_the_identities_themselves_still_restore() -> None:
    f = IdFilter.from_identities([("credit", "stable", "r1"), ("credit", "canary", "r2")], capacity=10)
    assert f.seen("credit", "stable", "r1") and f.seen("credit", "canary", "r2") and not f.seen("credit", "x", "r1")
