"""The Kafka side of the stream worker (confluent-kafka): topics checked, one consumer-group member, one producer.

- The producer is idempotent with ``acks=all``; :meth:`KafkaTransport.send` waits for every delivery report, so
  the worker commits only what the broker acknowledged.
- The consumer never commits on its own; :meth:`KafkaTransport.commit` commits the offsets after a batch, and
  :meth:`KafkaTransport.rewind` seeks back to a batch's first offsets when it must be read again.
- :meth:`KafkaTransport.lag` is the messages on the assigned partitions not yet taken (from the high watermarks
  of the last fetches, no broker round trip).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from modelpilot.errors import ConfigError, NotFoundError, UnavailableError
from modelpilot.streaming.handler import Incoming, Outgoing

__all__ = ["KafkaTransport", "SendFailure", "check_topic_names", "ensure_topics"]

log = logging.getLogger(__name__)

_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_PERMANENT = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_RECORD, KafkaError.INVALID_MSG_SIZE})
"""Delivery errors that sending the same message again cannot fix."""


def check_topic_names(topics: Mapping[str, str]) -> None:
    """Refuse invalid topic names and an input topic that is also an output (``topics``: option to topic).

    >>> check_topic_names({"--in": "requests", "--out": "requests"})
    Traceback (most recent call last):
    ...
    modelpilot.errors.ConfigError: --out: topic 'requests' is also --in (every reply would be read again)
    """
    seen: dict[str, str] = {}
    for option, topic in topics.items():
        if not _TOPIC.fullmatch(topic) or topic in (".", ".."):
            raise ConfigError(
                f"{option}: {topic!r} is not a Kafka topic name",
                hint="use up to 249 letters, digits, '.', '_' and '-'",
            )
        if topic in seen:
            raise ConfigError(
                f"{option}: topic {topic!r} is also {seen[topic]} (every reply would be read again)",
                hint=f"give {option} a topic of its own",
            )
        seen[topic] = option


def ensure_topics(
    admin: AdminClient,
    topics: Mapping[str, str],
    *,
    bootstrap: str,
    create: bool = False,
    partitions: int = 3,
    timeout: float = 10.0,
) -> None:
    """Check that each topic exists (``topics``: option to topic); with ``create``, make the missing ones.

    Created topics get the input topic's partition count when it exists (the first entry), else ``partitions``.
    """
    try:
        meta = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise UnavailableError(
            f"cannot reach Kafka at {bootstrap}: {exc.args[0].str() if exc.args else exc}",
            hint="check --bootstrap (events.kafka.bootstrap) and that the brokers are up",
        ) from None
    missing = {option: t for option, t in topics.items() if t not in meta.topics}
    if not missing:
        return
    if not create:
        option, topic = next(iter(missing.items()))
        raise NotFoundError(
            f"{option}: topic {topic!r} does not exist on {bootstrap}",
            hint="create it (as many partitions as workers you will run), or pass --create-topics",
        )
    first = next(iter(topics.values()))
    count = len(meta.topics[first].partitions) if first in meta.topics else partitions
    futures = admin.create_topics([NewTopic(t, num_partitions=count, replication_factor=1) for t in missing.values()])
    for topic, future in futures.items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                option = next(o for o, t in missing.items() if t == topic)
                raise UnavailableError(
                    f"{option}: topic {topic!r} could not be created: {exc.args[0].str()}",
                    hint="create it with your Kafka tools, or check the broker's permissions",
                ) from None
        log.info("created topic %s (%d partitions)", topic, count)


@dataclass(frozen=True, slots=True)
class SendFailure:
    """An outgoing message the broker did not acknowledge: its index, why, and whether a retry could help."""

    index: int
    reason: str
    permanent: bool


class KafkaTransport:
    """A consumer-group member on the input topic and an idempotent producer.

    Parameters
    ----------
    bootstrap
        ``host:port[,host:port]`` of the brokers.
    group
        The consumer group (workers in one group share the input's partitions).
    in_topic
        The topic requests are read from.
    config
        Extra librdkafka settings for both clients (e.g. security, or ``session.timeout.ms``).
    """

    def __init__(self, bootstrap: str, *, group: str, in_topic: str, config: Mapping[str, Any] | None = None) -> None:
        extra = dict(config or {})
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500,
                **{k: v for k, v in extra.items() if k not in _PRODUCER_ONLY},
            }
        )
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "message.timeout.ms": 30000,
                **{k: v for k, v in extra.items() if k not in _CONSUMER_ONLY},
            }
        )
        self._consumer.subscribe([in_topic])
        self._last_error_log = 0.0

    def poll(self, max_messages: int, timeout: float) -> list[Incoming]:
        """Up to ``max_messages`` request messages (fewer when ``timeout`` seconds pass first)."""
        out: list[Incoming] = []
        for m in self._consumer.consume(max_messages, timeout):
            incoming = _incoming(m)
            if incoming is not None:
                out.append(incoming)
                continue
            problem = m.error()
            now = time.monotonic()
            if problem is not None and problem.code() != KafkaError._PARTITION_EOF and now - self._last_error_log >= 5:
                self._last_error_log = now
                log.warning("kafka consumer: %s", problem.str())
        return out

    def send(self, messages: Sequence[Outgoing], *, give_up: Callable[[], bool]) -> list[SendFailure]:
        """Produce ``messages`` in order and wait for every delivery report; returns the ones not acknowledged.

        ``give_up`` is asked while waiting (the worker says yes once it was told to stop and its grace ran out);
        messages still unacknowledged then count as failed (and retriable).
        """
        failures: dict[int, SendFailure] = {}
        acked: set[int] = set()

        def report(index: int) -> Callable[[KafkaError | None, Message], None]:
            def done(err: KafkaError | None, msg: Message) -> None:
                if err is None:
                    acked.add(index)
                else:
                    failures[index] = SendFailure(index, err.str(), err.code() in _PERMANENT)

            return done

        for i, out in enumerate(messages):
            headers: list[tuple[str, str | bytes | None]] = list(out.headers)
            while True:
                try:
                    self._producer.produce(out.topic, out.value, out.key, headers=headers, on_delivery=report(i))
                    break
                except BufferError:  # the local queue is full: serve delivery reports, then try again
                    self._producer.poll(0.2)
                    if give_up():
                        return _unsent(messages, failures, acked)
                except KafkaException as exc:
                    err: KafkaError = exc.args[0]
                    failures[i] = SendFailure(i, err.str(), err.code() in _PERMANENT)
                    break
        while len(self._producer) > 0:
            self._producer.flush(0.5)
            if len(self._producer) > 0 and give_up():
                return _unsent(messages, failures, acked)
        return [failures[i] for i in sorted(failures)]

    def commit(self, messages: Sequence[Incoming]) -> bool:
        """Commit the offsets after ``messages`` (synchronously); False when the broker refused (logged)."""
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in _bounds(messages, max).items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:  # e.g. the partitions moved to another member meanwhile: it reads them again
            log.warning("offsets not committed (the messages will be answered again): %s", exc.args[0].str())
            return False
        return True

    def rewind(self, messages: Sequence[Incoming]) -> None:
        """Seek back so that ``messages`` are read again."""
        for (topic, partition), offset in _bounds(messages, min).items():
            try:
                self._consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:  # no longer assigned here: the new owner reads from the committed offset
                log.warning("cannot seek %s[%d] back to %d: %s", topic, partition, offset, exc.args[0].str())

    def lag(self) -> int | None:
        """Messages on the assigned partitions after this member's position (``None`` when nothing is known)."""
        assigned = self._consumer.assignment()
        if not assigned:
            return None
        total, known = 0, False
        for tp in self._consumer.position(assigned):
            _, high = self._consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0 and tp.offset >= 0:
                total += max(0, high - tp.offset)
                known = True
        return total if known else None

    def close(self) -> None:
        """Deliver what is queued (bounded), then leave the consumer group."""
        self._producer.flush(10.0)
        self._consumer.close()
        close = getattr(self._producer, "close", None)  # newer clients only; older ones close when collected
        if close is not None:
            close()


_PRODUCER_ONLY = frozenset({"acks", "enable.idempotence", "linger.ms", "message.timeout.ms", "compression.type"})
_CONSUMER_ONLY = frozenset(
    {"group.id", "enable.auto.commit", "auto.offset.reset", "session.timeout.ms", "heartbeat.interval.ms"}
)


def _incoming(m: Message) -> Incoming | None:
    topic, partition, offset = m.topic(), m.partition(), m.offset()
    if m.error() is not None or topic is None or partition is None or offset is None:
        return None
    headers = m.headers()
    pairs = list(headers.items()) if isinstance(headers, dict) else headers
    return Incoming(
        topic, partition, offset, _bytes(m.key()), _bytes(m.value()), [(k, _bytes(v)) for k, v in pairs or ()]
    )


def _bytes(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _bounds(messages: Sequence[Incoming], pick: Callable[[int, int], int]) -> dict[tuple[str, int], int]:
    out: dict[tuple[str, int], int] = {}
    for m in messages:
        key = (m.topic, m.partition)
        out[key] = pick(out[key], m.offset) if key in out else m.offset
    return out


def _unsent(messages: Sequence[Outgoing], failures: dict[int, SendFailure], acked: set[int]) -> list[SendFailure]:
    pending = [SendFailure(i, "not acknowledged before the worker stopped", False) for i in range(len(messages))]
    return [failures.get(i, f) for i, f in enumerate(pending) if i not in acked]
