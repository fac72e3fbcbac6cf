"""The Kafka bus (confluent-kafka): modelpilot's events as structured CloudEvents on three topics.

- ``modelpilot.inference``: inference events; ``modelpilot.feedback``: labels; ``modelpilot.signals``: alarms and
  SLO alerts (names configurable, created if missing with ``partitions`` partitions).
- The message key is the model name, so one model's events stay in order on one partition. Each CloudEvent carries
  the extensions ``modelversion``, ``variant`` and ``partitionkey``.
- With ``batch`` (the default), consecutive inference events of one model and layout leave as one message, an
  ``io.modelpilot.inference.batch`` CloudEvent holding them as an Arrow stream (:mod:`modelpilot.events.columnar`):
  one message, one decode and no per-value objects for hundreds of events. Every reader here takes both forms;
  turn it off for consumers of the topic that only read single events.
- The producer is idempotent with ``acks=all``. :meth:`KafkaBus.publish` never blocks a request nor encodes on
  its thread: it appends the event to a bounded queue (beyond ``capacity``: dropped, counted, logged), and a sender
  thread encodes and hands messages to librdkafka.
- **No event lost** while the broker is away: a message librdkafka could not deliver within
  ``message_timeout_s``, or could not queue, goes to the disk :class:`~modelpilot.events.spool.Spool`; from then on
  every new message goes there too (so the spool keeps their order) until a replay thread has handed all of it to
  the broker again, oldest segment first. A segment is deleted only when every message in it was acknowledged, so
  a replay interrupted by another outage sends some messages twice: consumers drop duplicates by event id. A fatal
  producer error (e.g. a broker that lost its state no longer knows the idempotent producer) purges the old
  producer into the spool and starts a new one. Without a spool, undeliverable messages are dropped and counted.
- :meth:`KafkaBus.subscribe` runs a consumer on a thread: a consumer-group member (the group shares the
  partitions), or with ``group=None`` a reader of every partition from the end (each controller replica sees
  every event). Batches of decoded events go to the subscriber, and a group member commits offsets only after it
  returned, so a crash redelivers rather than loses (events carry ids; consumers are idempotent). Undecodable
  messages are skipped, counted and logged with their topic, partition and offset.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from modelpilot.events.bus import Subscriber
from modelpilot.events.columnar import groups
from modelpilot.events.kafka_codec import (
    MAX_MESSAGE_BYTES,
    KafkaTopics,
    decode,
    decode_many,
    encode,
    encode_batch,
    encode_batches,
    from_message,
    structured,
)
from modelpilot.events.model import Event, InferenceEvent
from modelpilot.events.spool import Record, Spool
from modelpilot.telemetry import metrics

if TYPE_CHECKING:
    from modelpilot.events.kafka_reader import Reader

__all__ = [
    "MAX_MESSAGE_BYTES",
    "KafkaBus",
    "KafkaTopics",
    "decode",
    "decode_many",
    "encode",
    "encode_batch",
    "encode_batches",
    "from_message",
    "structured",
]

log = logging.getLogger(__name__)


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
    capacity
        Events that may wait for the sender thread; beyond it ``publish`` drops and counts.
    spool
        Where undeliverable messages wait for the broker (none: they are dropped and counted).
    message_timeout_s
        How long librdkafka retries a message before it is given to the spool.
    batch
        Send consecutive inference events of one model and layout as one columnar message (see above).
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        topics: KafkaTopics | None = None,
        partitions: int = 3,
        config: Mapping[str, Any] | None = None,
        create_topics: bool = True,
        capacity: int = 10_000,
        spool: Spool | None = None,
        message_timeout_s: float = 5.0,
        source: str = "modelpilot",
        batch: bool = True,
    ) -> None:
        self.bootstrap = bootstrap
        self.batch = batch
        limit = int(dict(config or {}).get("message.max.bytes", 1_000_000))
        self.max_bytes = min(MAX_MESSAGE_BYTES, limit * 9 // 10)  # batch messages stay under the size limit
        self.topics = topics or KafkaTopics()
        self.partitions = partitions
        self.config = dict(config or {})
        self.capacity = capacity
        self.spool = spool
        self.source = source
        self.message_timeout_s = message_timeout_s
        unreachable = False
        if create_topics:
            try:
                self.ensure_topics()
            except KafkaException as exc:
                if spool is None:
                    raise
                unreachable = True  # start anyway: events wait in the spool until the brokers answer
                log.warning("kafka bus: the brokers at %s do not answer (%s); events go to the spool", bootstrap, exc)
        self._lock = threading.RLock()  # guards the producer, the spooling flag and the spool's order
        self._fatal = threading.Event()
        self._producer = self._new_producer()
        self._queue: deque[Event] = deque()
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._busy = False  # a batch taken off the queue is being encoded and handed over
        self._draining = False  # spooling began: librdkafka's queue goes to the spool before new events
        # a previous run left messages (they go first), or the brokers are away
        self._spooling = spool is not None and (spool.pending > 0 or unreachable)
        self._stop = threading.Event()
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._readers: list[Reader] = []
        self._last_drop_log = 0.0
        self.dropped = 0
        self.delivered = 0
        self.spooled = 0
        for target, name in ((self._send, "sender"), (self._serve_reports, "reports"), (self._replay, "replay")):
            if target == self._replay and spool is None:
                continue
            thread = threading.Thread(target=target, name=f"modelpilot-kafka-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _new_producer(self) -> Producer:
        return Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 20,
                "message.timeout.ms": int(self.message_timeout_s * 1000),
                "allow.auto.create.topics": False,  # a topic made by the broker would not have our partitions
                "error_cb": self._on_error,
                **self.config,
            }
        )

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
        """Queue one event without blocking; False (counted and logged) when the queue is full or the bus closed."""
        if self._closed or len(self._queue) >= self.capacity:
            self._drop("closed" if self._closed else "queue_full", 1)
            return False
        self._queue.append(event)
        metrics.EVENTS_PUBLISHED.inc()
        if len(self._queue) >= 512:
            self._wake.set()
        return True

    def _drop(self, reason: str, n: int) -> None:
        self.dropped += n
        metrics.EVENTS_DROPPED.labels(reason=reason).inc(n)
        now = time.monotonic()
        if now - self._last_drop_log >= 1.0:
            self._last_drop_log = now
            log.error("kafka bus: %d events dropped (%s); %d dropped so far", n, reason, self.dropped)

    def _send(self) -> None:
        while True:
            # Not woken per event: every wake-up of this thread costs a serving thread a GIL hand-off (see
            # InProcessBus); a full batch or a flush wakes it at once.
            self._wake.wait(0.2)
            self._wake.clear()
            if self._fatal.is_set():
                try:
                    self._renew_producer()
                except Exception:  # e.g. a settings file gone: events wait in the queue, then in the spool
                    log.exception("kafka bus: a new producer could not be made; trying again")
            while self._queue and not self._draining:
                self._busy = True
                taken: list[Event] = []
                while self._queue and len(taken) < 512:
                    taken.append(self._queue.popleft())
                batch = self._encode(taken)
                metrics.EVENT_QUEUE_DEPTH.set(len(self._queue))
                try:
                    self._hand_over(batch)
                except Exception:  # never a dead sender thread
                    log.exception("kafka bus: %d events could not be handed over", len(batch))
                    self._drop("undeliverable", len(batch))
                finally:
                    self._busy = False
            with self._idle:
                self._idle.notify_all()
            if self._stop.is_set() and not self._queue:
                return

    def _encode(self, events: list[Event]) -> list[Record]:
        """Messages for ``events``: one per group of inference events that can travel together (``batch``), else
        one per event."""
        out: list[Record] = []
        for group in groups(events) if self.batch else [[e] for e in events]:
            if len(group) > 1:
                try:
                    parts = encode_batches(
                        cast(list[InferenceEvent], group), source=self.source, max_bytes=self.max_bytes
                    )
                    out += [(self.topics.inference, key, value) for key, value in parts]
                    continue
                except ValueError:  # values Arrow cannot type in one column, or shapes it does not carry: one by one
                    pass
                except Exception:  # anything else about the batch (a bug, an odd value): one by one, never fatal
                    log.exception("kafka bus: a batch of %d events could not be encoded; sending them one by one",
                                  len(group))  # fmt: skip
            for event in group:
                try:
                    key, value = encode(event, source=self.source)
                except Exception:  # an event that cannot be encoded is a bug: counted, never a dead thread
                    log.exception("kafka bus: event %r could not be encoded", getattr(event, "request_id", "?"))
                    self._drop("unencodable", 1)
                    continue
                out.append((self.topics.of(event), key, value))
        return out

    def _hand_over(self, batch: list[Record]) -> None:
        with self._lock:
            if self._spooling:
                self._to_spool(batch)
                return
            for i, (topic, key, value) in enumerate(batch):
                try:
                    self._producer.produce(topic, key=key, value=value, on_delivery=self._delivered)
                except (BufferError, KafkaException) as exc:  # librdkafka's queue is full: the broker is slow
                    log.warning("kafka bus: the producer refused a message (%s); spooling", exc)
                    self._spooling = self.spool is not None
                    self._to_spool(batch[i:])
                    return

    def _to_spool(self, records: Sequence[Record]) -> None:
        if self.spool is None:
            self._drop("undeliverable", len(records))
            return
        written = self.spool.append(records)
        self.spooled += written

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
            return
        with self._lock:
            if self.spool is None:
                self._drop("delivery_failed", 1)
                log.error("event to %s not delivered: %s", msg.topic(), err)
                return
            if not self._spooling:
                log.warning("kafka bus: the broker is unreachable (%s); events go to the spool", err)
                self._draining = True  # the reports thread hands librdkafka's queue to the spool first
            self._spooling = True
            self._to_spool([(msg.topic() or self.topics.inference, msg.key() or b"", msg.value() or b"")])

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            log.error("kafka bus: fatal producer error (%s); a new producer takes over", err)
            self._fatal.set()
            self._wake.set()
        elif err.code() == KafkaError._ALL_BROKERS_DOWN:
            log.warning("kafka bus: all brokers are down")

    def _renew_producer(self) -> None:
        with self._lock:
            old = self._producer
            self._spooling = self.spool is not None
            self._producer = self._new_producer()
            self._fatal.clear()
        try:
            old.purge()  # undelivered messages come back through _delivered with an error: into the spool
            old.flush(2.0)  # serves those reports (the reports thread polls the new producer now)
        except Exception as exc:  # a fatal producer may refuse even this; librdkafka still reports what it had
            log.warning("kafka bus: the old producer could not be drained (%s)", exc)

    def _serve_reports(self) -> None:
        while not self._stop.is_set():
            try:
                self._producer.poll(0.2)
                if self._draining:
                    # Spooling began: what librdkafka still queues comes back (as purge reports, served now) and
                    # goes to the spool before anything newer, so the spool keeps the order of a partition.
                    self._producer.purge(in_queue=True, in_flight=False)
                    self._producer.poll(0)
                    self._draining = False
                    self._wake.set()
            except Exception as exc:  # a fatal producer raises here too: the sender thread renews it
                log.warning("kafka bus: producer error (%s)", exc)
                self._draining = False
                self._fatal.set()
                self._wake.set()
                self._stop.wait(0.2)

    def _replay(self) -> None:
        spool = self.spool
        assert spool is not None
        while not self._stop.wait(1.0):
            if not self._spooling:
                continue
            try:
                self.ensure_topics(timeout=2.0)
            except Exception as exc:  # still away
                log.debug("kafka bus: brokers still away (%s)", exc)
                continue
            while not self._stop.is_set():
                with self._lock:
                    if spool.pending == 0:
                        self._spooling = False
                        log.info("kafka bus: the spool is empty; events go straight to the broker again")
                        break
                batch = spool.oldest()
                if batch is None:
                    break
                if not self._resend(batch.records):
                    # after timeouts some brokers fence the idempotent producer: the next try uses a new one
                    try:
                        self._renew_producer()
                    except Exception:
                        log.exception("kafka bus: a new producer could not be made; trying again")
                    break
                spool.release(batch)

    def _resend(self, records: Sequence[Record]) -> bool:
        failed: list[KafkaError] = []

        def report(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                failed.append(err)

        producer = self._producer
        try:
            for topic, key, value in records:
                while True:
                    try:
                        producer.produce(topic, key=key, value=value, on_delivery=report)
                        break
                    except BufferError:
                        producer.poll(0.1)
            left = producer.flush(self.message_timeout_s * 2)
        except (KafkaException, SystemError) as exc:  # the producer turned fatal (raised inside a report)
            log.warning("kafka bus: replay stopped (%s)", exc)
            return False
        if failed or left:
            why = failed[0] if failed else f"{left} not acknowledged in time"
            log.warning("kafka bus: replay of %d spooled events interrupted (%s); trying again", len(records), why)
            return False
        return True

    def flush(self, timeout: float) -> bool:
        """Wait until every queued event was delivered or spooled; False on timeout."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._idle:
            self._idle.wait_for(lambda: not self._queue and not self._busy, timeout)
        try:
            left = self._producer.flush(max(0.0, deadline - time.monotonic()))
        except (KafkaException, SystemError) as exc:  # a fatal producer: the sender thread renews it
            log.warning("kafka bus: flush failed (%s)", exc)
            return False
        return left == 0 and not self._queue

    # ----------------------------------------------------------------------------------------------- consume
    def subscribe(self, subscriber: Subscriber, *, group: str | None = "modelpilot",
                  topics: Sequence[str] | None = None, batch: int = 500) -> None:  # fmt: skip
        """Feed ``subscriber`` from a consumer on a thread (:class:`~modelpilot.events.kafka_reader.Reader`).

        With a ``group``, a member of that consumer group: offsets are committed after each batch the subscriber
        took. With ``group=None``, every partition of ``topics`` is read from its end, by this process alone.
        """
        from modelpilot.events.kafka_reader import Reader

        reader = Reader(self.bootstrap, self.config, subscriber, group=group,
                        topics=list(topics or self.topics.all), batch=batch, stop=self._stop)  # fmt: skip
        reader.start()
        self._readers.append(reader)

    @property
    def skipped(self) -> int:
        """Messages the readers skipped as undecodable."""
        return sum(r.skipped for r in self._readers)

    def close(self, timeout: float = 5.0) -> None:
        """Flush (what the broker does not take stays in the spool), stop the threads, leave the consumer groups."""
        if not self.flush(timeout) and self.spool is not None:
            # The brokers did not take everything in time: what librdkafka still holds goes to the spool (served
            # as purge reports) before the spool closes, for the next start to replay.
            with self._lock:
                self._spooling = True
            try:
                self._producer.purge()
                self._producer.flush(2.0)
            except Exception as exc:
                log.warning("kafka bus: could not hand the producer's queue to the spool (%s)", exc)
        self._closed = True
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        for reader in self._readers:
            reader.join(timeout)
            reader.consumer.close()
        if self.spool is not None:
            self.spool.close()
