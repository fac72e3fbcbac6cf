"""The Kafka bus (confluent-kafka): modelpilot's events as structured CloudEvents on three topics.

- ``modelpilot.inference``: inference events; ``modelpilot.feedback``: labels; ``modelpilot.signals``: alarms and
  SLO alerts (names configurable, created if missing with ``partitions`` partitions).
- The message key is the model name, so one model's events stay in order on one partition. Each CloudEvent carries
  the extensions ``modelversion``, ``variant`` and ``partitionkey``.
- The producer is idempotent with ``acks=all``. :meth:`KafkaBus.publish` never blocks a request: it hands the
  message to librdkafka's queue and a background thread serves delivery reports; a full queue or a failed delivery
  is counted in ``modelpilot_events_dropped_total`` and logged.
- :meth:`KafkaBus.subscribe` runs a consumer-group member on a thread: batches of decoded events go to the
  subscriber, and the offsets are committed only after it returned, so a crash redelivers rather than loses
  (events carry ids; consumers are idempotent). Undecodable messages are skipped, counted and logged with their
  topic, partition and offset.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from modelpilot.errors import InvalidInputError
from modelpilot.events.bus import Subscriber
from modelpilot.events.cloudevents import CloudEvent, from_cloudevent, to_cloudevent
from modelpilot.events.model import AlarmEvent, Event, InferenceEvent, LabelEvent
from modelpilot.telemetry import metrics

__all__ = ["KafkaBus", "KafkaTopics", "decode", "encode"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KafkaTopics:
    """The topic of each kind of event."""

    inference: str = "modelpilot.inference"
    feedback: str = "modelpilot.feedback"
    signals: str = "modelpilot.signals"

    def of(self, event: Event) -> str:
        """The topic an event goes to."""
        if isinstance(event, InferenceEvent):
            return self.inference
        if isinstance(event, LabelEvent):
            return self.feedback
        return self.signals

    @property
    def all(self) -> tuple[str, ...]:
        """Every topic."""
        return (self.inference, self.feedback, self.signals)


def _model_of(event: Event) -> str:
    if isinstance(event, InferenceEvent):
        return event.model
    if isinstance(event, LabelEvent):
        return event.model or event.request_id
    body: Mapping[str, Any] = event.alarm if isinstance(event, AlarmEvent) else event.alert
    return str(body.get("model") or "")


def encode(event: Event, *, source: str = "modelpilot") -> tuple[bytes, bytes]:
    """``(key, value)``: the model name, and the structured CloudEvent with modelpilot's extensions.

    >>> from modelpilot.events.model import LabelEvent
    >>> key, value = encode(LabelEvent(request_id="r1", label=1, time=0.0, model="credit"))
    >>> key, orjson.loads(value)["type"], orjson.loads(value)["partitionkey"]
    (b'credit', 'io.modelpilot.label', 'credit')
    """
    ce = to_cloudevent(event, source=source)
    model = _model_of(event)
    ce["partitionkey"] = model
    if isinstance(event, InferenceEvent):
        ce["modelversion"] = str(event.version)
        ce["variant"] = event.variant
    return model.encode(), orjson.dumps(ce, option=orjson.OPT_SERIALIZE_NUMPY)


def decode(value: bytes) -> Event:
    """An event from a message value written by :func:`encode`; InvalidInputError names what is wrong."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"message: not JSON ({exc})", hint="send structured CloudEvents") from None
    if not isinstance(doc, dict) or "type" not in doc or "data" not in doc:
        raise InvalidInputError("message: not a structured CloudEvent", hint="give it type and data")
    attributes = {k: v for k, v in doc.items() if k != "data"}
    return from_cloudevent(CloudEvent(attributes, doc["data"]))


class KafkaBus:
    """The event bus on Kafka.

    Parameters
    ----------
    bootstrap
        ``host:port[,host:port]`` of the brokers.
    topics
        The topic names.
    partitions
        Partitions of topics this bus creates.
    config
        Extra librdkafka settings for the producer and consumers (e.g. security).
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        topics: KafkaTopics | None = None,
        partitions: int = 3,
        config: Mapping[str, Any] | None = None,
        create_topics: bool = True,
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = topics or KafkaTopics()
        self.partitions = partitions
        self.config = dict(config or {})
        if create_topics:
            self.ensure_topics()
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 20,
                **self.config,
            }
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._consumers: list[Consumer] = []
        self.skipped = 0
        poller = threading.Thread(target=self._serve_reports, name="modelpilot-kafka-reports", daemon=True)
        poller.start()
        self._threads.append(poller)

    def ensure_topics(self, timeout: float = 15.0) -> None:
        """Create the topics that do not exist yet."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap, **self.config})
        existing = set(admin.list_topics(timeout=timeout).topics)
        missing = [t for t in self.topics.all if t not in existing]
        if not missing:
            return
        futures = admin.create_topics(
            [NewTopic(t, num_partitions=self.partitions, replication_factor=1) for t in missing]
        )
        for future in futures.values():
            try:
                future.result(timeout)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise

    # ----------------------------------------------------------------------------------------------- publish
    def publish(self, event: Event) -> bool:
        """Queue one event for the broker without blocking; False (counted) when the local queue is full."""
        key, value = encode(event)
        try:
            self._producer.produce(self.topics.of(event), key=key, value=value, on_delivery=self._delivered)
        except BufferError:
            metrics.EVENTS_DROPPED.labels(reason="queue_full").inc()
            return False
        metrics.EVENTS_PUBLISHED.inc()
        return True

    @staticmethod
    def _delivered(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            metrics.EVENTS_DROPPED.labels(reason="delivery_failed").inc()
            log.error("event to %s not delivered: %s", msg.topic(), err)

    def _serve_reports(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.2)

    def flush(self, timeout: float) -> bool:
        """Wait until every queued event was delivered (or failed); False on timeout."""
        return self._producer.flush(timeout) == 0

    # ----------------------------------------------------------------------------------------------- consume
    def subscribe(self, subscriber: Subscriber, *, group: str = "modelpilot", topics: Sequence[str] | None = None,
                  batch: int = 500) -> None:  # fmt: skip
        """Feed ``subscriber`` from a consumer-group member on a thread; offsets are committed after each batch."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500,
                **self.config,
            }
        )
        consumer.subscribe(list(topics or self.topics.all))
        self._consumers.append(consumer)
        thread = threading.Thread(
            target=self._consume, args=(consumer, subscriber, batch), name=f"modelpilot-kafka-{group}", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def _consume(self, consumer: Consumer, subscriber: Subscriber, batch: int) -> None:
        while not self._stop.is_set():
            messages = consumer.consume(batch, timeout=0.5)
            if not messages:
                continue
            events: list[Event] = []
            for m in messages:
                problem = m.error()
                if problem is not None:
                    if problem.code() != KafkaError._PARTITION_EOF:
                        log.warning("kafka: %s", problem)
                    continue
                try:
                    events.append(decode(m.value() or b""))
                except InvalidInputError as exc:
                    self.skipped += 1
                    log.warning("kafka: skipped %s[%s]@%s: %s", m.topic(), m.partition(), m.offset(), exc.message)
            try:
                if events:
                    subscriber(events)
            except Exception:
                log.exception("kafka: the subscriber failed; the batch is not committed and comes again")
                first: dict[tuple[str, int], int] = {}
                for m in messages:
                    topic, partition, offset = m.topic(), m.partition(), m.offset()
                    if m.error() is None and topic is not None and partition is not None and offset is not None:
                        first[(topic, partition)] = min(first.get((topic, partition), offset), offset)
                for (topic, partition), offset in first.items():
                    consumer.seek(TopicPartition(topic, partition, offset))
                continue
            consumer.commit(asynchronous=False)

    def close(self, timeout: float = 5.0) -> None:
        """Flush, stop the threads, leave the consumer groups."""
        self.flush(timeout)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        for consumer in self._consumers:
            consumer.close()
