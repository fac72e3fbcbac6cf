"""The reading side of the Kafka bus: a consumer on a thread that feeds a subscriber batches of decoded events.

As a consumer-group member it commits offsets only after the subscriber returned, and seeks back to read a batch
again when the subscriber failed (a crash redelivers rather than loses; events carry ids, consumers are idempotent).
Without a group it reads every partition of its topics from their end (each controller replica sees all traffic).
Messages that do not decode are skipped, counted in ``modelpilot_events_dropped_total{reason="undecodable"}`` and
logged with topic, partition and offset; nothing a message holds stops the thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, Message, TopicPartition

from modelpilot.errors import InvalidInputError
from modelpilot.events.bus import Subscriber
from modelpilot.events.kafka import decode_many
from modelpilot.events.model import Event
from modelpilot.telemetry import metrics

__all__ = ["Reader", "first_offsets"]

log = logging.getLogger("modelpilot.events.kafka")


class Reader(threading.Thread):
    """One consumer and its thread.

    Parameters
    ----------
    bootstrap, config
        The brokers and extra librdkafka settings.
    subscriber
        Called with each batch of decoded events.
    group
        The consumer group (offsets committed after each batch), or ``None``: every partition from its end.
    topics, batch
        What to read, and most messages per batch.
    stop
        Set to stop the thread (the bus's).
    """

    def __init__(self, bootstrap: str, config: Mapping[str, Any], subscriber: Subscriber, *, group: str | None,
                 topics: Sequence[str], batch: int, stop: threading.Event) -> None:  # fmt: skip
        super().__init__(name=f"modelpilot-kafka-{group or 'reader'}", daemon=True)
        self.subscriber = subscriber
        self.batch = batch
        self.commit = group is not None
        self.stop = stop
        self.skipped = 0
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group or f"modelpilot-reader-{id(self)}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest" if group else "latest",
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500,
                "partition.assignment.strategy": "range",
                **config,
            }
        )
        if group is None:
            meta = self.consumer.list_topics(timeout=15.0)
            self.consumer.assign(
                [
                    TopicPartition(t, p, OFFSET_END)
                    for t in topics
                    if t in meta.topics
                    for p in meta.topics[t].partitions
                ]
            )
        else:
            self.consumer.subscribe(list(topics))

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self._once()
            except Exception:  # a reader thread must not die quietly: log, wait a moment, go on
                log.exception("kafka: the consumer loop failed; it goes on in a second")
                self.stop.wait(1.0)

    def _once(self) -> None:
        messages = self.consumer.consume(self.batch, timeout=0.5)
        if not messages:
            return
        events = self.decode_all(messages)
        try:
            if events:
                self.subscriber(events)
        except Exception:
            log.exception("kafka: the subscriber failed; the batch is not committed and comes again")
            for tp in first_offsets(messages):
                self.consumer.seek(tp)
            return
        if self.commit:
            try:
                self.consumer.commit(asynchronous=False)
            except KafkaException as exc:  # the broker is away: the next commit covers these too
                log.warning("kafka: offsets not committed (%s)", exc)

    def decode_all(self, messages: Sequence[Message]) -> list[Event]:
        """The events in ``messages``; errors and undecodable messages are skipped, counted and logged."""
        events: list[Event] = []
        for m in messages:
            problem = m.error()
            if problem is not None:
                if problem.code() != KafkaError._PARTITION_EOF:
                    log.warning("kafka: %s", problem)
                continue
            try:
                events.extend(decode_many(m.value() or b""))
            except Exception as exc:  # whatever a message makes decoding raise: skipped and counted, never fatal
                self.skipped += 1
                metrics.EVENTS_DROPPED.labels(reason="undecodable").inc()
                why = exc.message if isinstance(exc, InvalidInputError) else f"{type(exc).__name__}: {exc}"
                log.warning("kafka: skipped %s[%s]@%s: %s", m.topic(), m.partition(), m.offset(), why)
        return events


def first_offsets(messages: Sequence[Message]) -> list[TopicPartition]:
    """The first offset of each partition in ``messages`` (where to seek to read them again)."""
    first: dict[tuple[str, int], int] = {}
    for m in messages:
        topic, partition, offset = m.topic(), m.partition(), m.offset()
        if m.error() is None and topic is not None and partition is not None and offset is not None:
            first[(topic, partition)] = min(first.get((topic, partition), offset), offset)
    return [TopicPartition(topic, partition, offset) for (topic, partition), offset in first.items()]
