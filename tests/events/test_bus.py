"""The in-process bus: a full queue spills to disk instead of dropping, order is kept, and a killed process's spill
is delivered by the next bus on it."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import orjson

from modelpilot.events.bus import InProcessBus
from modelpilot.events.model import Event, InferenceEvent, LabelEvent
from modelpilot.events.spool import Spool
from modelpilot.telemetry import metrics


def _event(i: int) -> InferenceEvent:
    return InferenceEvent(
        request_id=f"r{i}",
        time=float(i),
        model="credit",
        version=1,
        variant="stable",
        features={"age": np.array([30 + i, 40]), "income": np.array([1.5, np.nan])},
        prediction=np.array([0, 1]),
        probabilities=np.array([[0.9, 0.1], [0.2, 0.8]]),
        classes=(0, 1),
        latency_s=0.001,
        status=200,
    )


class Slow:
    """A subscriber that holds the delivery thread until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.seen: list[Event] = []

    def __call__(self, batch: Sequence[Event]) -> None:
        self.release.wait(10)
        self.seen.extend(batch)


def _dropped(reason: str) -> float:
    return float(metrics.EVENTS_DROPPED.labels(reason=reason)._value.get())


def test_a_full_queue_spills_to_disk_and_every_event_arrives_in_order(tmp_path: Path) -> None:
    slow = Slow()
    bus = InProcessBus(capacity=5, batch_size=4, linger_s=0.01, spill=Spool(tmp_path / "spill", fsync="never"))
    bus.subscribe(slow)
    before = _dropped("queue_full")
    assert all(bus.publish(_event(i)) for i in range(200))
    bus.publish(LabelEvent(request_id="r3", label=1, time=9.0))
    assert bus.spilled > 150 and bus.dropped == 0  # most went to disk while the subscriber was stuck
    slow.release.set()
    assert bus.flush(timeout=20)
    assert [e.request_id for e in slow.seen] == [f"r{i}" for i in range(200)] + ["r3"]
    back = slow.seen[150]
    assert isinstance(back, InferenceEvent) and back.features["age"].tolist() == [180, 40]
    assert np.isnan(back.features["income"][1]) and back.probabilities is not None and back.classes == (0, 1)
    assert isinstance(slow.seen[-1], LabelEvent)
    assert _dropped("queue_full") == before
    bus.close()
    assert Spool(tmp_path / "spill").pending == 0


def test_without_a_spill_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    slow = Slow()
    bus = InProcessBus(capacity=5, batch_size=4, linger_s=0.01)
    bus.subscribe(slow)
    before = _dropped("queue_full")
    results = [bus.publish(_event(i)) for i in range(50)]
    assert results.count(False) >= 40 and bus.dropped == results.count(False)
    assert _dropped("queue_full") - before == bus.dropped
    slow.release.set()
    bus.close()


def test_a_killed_processs_spill_is_delivered_first_by_the_next_bus(tmp_path: Path) -> None:
    left = Spool(tmp_path / "spill", fsync="never")  # what a SIGKILLed process left: written, never delivered
    left.append([("inference", b"", orjson.dumps(_event(i).to_dict(), option=orjson.OPT_SERIALIZE_NUMPY))
                 for i in range(3)])  # fmt: skip
    left.close()
    seen: list[Event] = []
    bus = InProcessBus(capacity=100, linger_s=0.01, spill=Spool(tmp_path / "spill", fsync="never"))
    bus.subscribe(seen.extend)
    assert bus.publish(_event(3)) and bus.publish(_event(4))  # behind the old spill, in order
    assert bus.flush(timeout=10)
    assert [e.request_id for e in seen] == ["r0", "r1", "r2", "r3", "r4"]
    bus.close()
    assert Spool(tmp_path / "spill").pending == 0


def test_an_event_json_cannot_hold_is_counted_when_spilled_never_raised(tmp_path: Path) -> None:
    """Found in review: encoding for the spill could raise out of publish (a request's thread)."""
    slow = Slow()
    bus = InProcessBus(capacity=1, linger_s=0.01, spill=Spool(tmp_path / "spill", fsync="never"))
    bus.subscribe(slow)
    before = _dropped("unencodable")
    odd = InferenceEvent(request_id="b", time=0.0, model="m", version=1, variant="stable",
                         features={"x": np.array([1.0])}, prediction=np.array([b"cat"]), latency_s=0.0,
                         status=200)  # fmt: skip
    assert bus.publish(_event(0)) and bus.publish(_event(1))  # the second may already wait in the spill
    assert bus.publish(odd) is False and _dropped("unencodable") == before + 1
    slow.release.set()
    bus.close()
