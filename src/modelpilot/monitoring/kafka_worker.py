"""`modelpilot monitor --bus kafka`: monitor workers as a Kafka consumer group.

Events are keyed by model name, so all of a model's inference events sit on one partition of the inference topic
and its labels on the same-numbered partition of the feedback topic (both topics have the same partition count and
the group uses the *range* assignor, which hands partition *p* of every topic to the same member). A worker keeps
one :class:`~modelpilot.monitoring.service.MonitorService` per partition number, a *shard*, whose snapshot in the
store is named after the group and the partition and carries the next offset of each topic. So:

- a partition's windows are always whole on one worker: the per-model results are those a single worker gives;
- closed windows and the snapshot that has moved past them are written in one transaction
  (:meth:`MonitorHistory.commit <modelpilot.monitoring.history.MonitorHistory.commit>`), within ``monitor.commit_s``
  of the batch that closed them, and open windows every ``monitor.snapshot_s``;
- on assignment a shard is restored from its snapshot and the consumer seeks to the snapshot's offsets; a worker
  killed with SIGKILL loses only what came after its last snapshot, and its successor reads exactly that again:
  nothing is lost, nothing counted twice. Offsets are committed to Kafka after each snapshot too, for lag tools.
- on revocation (a rebalance, a clean stop) the shard is snapshotted before it is let go.

KServe logger pairs (``org.kubeflow.serving.inference.request``/``.response`` with one id) on the inference topic
are joined per shard into inference events for models registered with ``--external``; both halves must carry the
same message key (the model name, or the id) to meet on one partition.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, Message, TopicPartition
from sqlalchemy.exc import SQLAlchemyError

from modelpilot.config import MonitorSettings
from modelpilot.errors import InvalidInputError, StoreError, UnavailableError
from modelpilot.events.cloudevents import KSERVE_REQUEST, KSERVE_RESPONSE, KServePairs, events_of
from modelpilot.events.kafka import from_message
from modelpilot.events.model import Event
from modelpilot.monitoring.results import Alarm
from modelpilot.monitoring.service import MonitorService
from modelpilot.registry import Registry
from modelpilot.registry.lookups import ModelLookups
from modelpilot.telemetry import metrics as m

__all__ = ["KafkaMonitor", "Shard"]

log = logging.getLogger("modelpilot.monitor")
RESTORE_ATTEMPTS = 5
RESTORE_PAUSE_S = 2.0


@dataclass
class Shard:
    """One partition number's monitor, where it stands in each topic, and its KServe pair joiner."""

    service: MonitorService
    pairs: KServePairs
    offsets: dict[str, int] = field(default_factory=dict)  # topic -> next offset to read
    dirty: bool = False
    saved: float = 0.0  # monotonic time of the last snapshot

    def position(self) -> dict[str, Any]:
        return {"offsets": dict(self.offsets)}


class KafkaMonitor:
    """A monitor worker: one member of the consumer group ``group`` on the inference and feedback topics.

    Parameters
    ----------
    registry
        Profiles, results, alarms and snapshots.
    settings
        Windows, snapshot and tick periods.
    bootstrap, topics, config
        The brokers, the topics to read (inference first), extra librdkafka settings.
    group
        The consumer group the workers share.
    on_alarm
        Called with every alarm transition (the CLI publishes them on the signals topic).
    """

    def __init__(
        self,
        registry: Registry,
        settings: MonitorSettings,
        *,
        bootstrap: str,
        topics: Sequence[str],
        group: str = "modelpilot-monitor",
        config: dict[str, Any] | None = None,
        on_alarm: Callable[[Alarm], None] | None = None,
        batch: int = 2000,
    ) -> None:
        self.registry = registry
        self._lookups = ModelLookups(registry)  # KServe pairs: version and feature names, cached for seconds
        self.settings = settings
        self.group = group
        self.topics = list(topics)
        self.on_alarm = on_alarm
        self.batch = batch
        self.shards: dict[int, Shard] = {}
        self.events = 0
        self.skipped = 0
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "range",  # partition p of every topic to one member
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500,
                **(config or {}),
            }
        )

    # ----------------------------------------------------------------------------------------------- shards
    def _shard(self, partition: int) -> Shard:
        shard = self.shards.get(partition)
        if shard is not None:
            return shard
        service = MonitorService(
            self.registry,
            self.settings,
            on_alarm=self.on_alarm,
            name=f"monitor:kafka:{self.group}:{partition}",
            transactional=True,
        )
        for attempt in range(RESTORE_ATTEMPTS):
            try:
                service.restore()
                break
            except (SQLAlchemyError, StoreError, OSError) as exc:
                # The store did not answer: starting empty would skip the open windows for good (the committed
                # offsets are past them). Try again; in the end stop this worker rather than lose them.
                if attempt == RESTORE_ATTEMPTS - 1:
                    raise UnavailableError(
                        f"monitor: the snapshot of partition {partition} cannot be read: the store does not answer",
                        hint="check the store; a restarted worker reads the partition again from its snapshot",
                    ) from exc
                log.warning("monitor: store unavailable restoring partition %d (%s); trying again", partition, exc)
                time.sleep(RESTORE_PAUSE_S)
            except Exception:  # a snapshot this build cannot read: start afresh rather than not at all
                log.exception("monitor: the snapshot of partition %d is unreadable; starting empty", partition)
                break
        offsets = {str(t): int(o) for t, o in dict(service.position.get("offsets", {})).items()}
        shard = Shard(service, KServePairs(self._lookups.feature_names, version_of=self._lookups.version_of), offsets)
        self.shards[partition] = shard
        return shard

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            shard = self._shard(tp.partition)
            stored = shard.offsets.get(tp.topic)
            tp.offset = stored if stored is not None else OFFSET_INVALID  # else the committed offset
        consumer.assign(partitions)
        log.info("monitor: took partitions %s", sorted({tp.partition for tp in partitions}))

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions}
        self._save(gone)
        for p in gone:
            self.shards.pop(p, None)
        log.info("monitor: let partitions %s go", sorted(gone))

    def _lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:  # another member owns them now: its snapshot is the truth
            self.shards.pop(tp.partition, None)

    # ----------------------------------------------------------------------------------------------- loop
    def run(self, *, max_idle_s: float | None = None) -> None:
        """Consume until :meth:`stop` (or ``max_idle_s`` without a message); snapshot and leave the group."""
        self._consumer.subscribe(self.topics, on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost)
        try:
            self._loop(max_idle_s)
        except BaseException:
            # Leaving on an error: the shards may hold half a batch, so nothing is saved; the last snapshots and
            # their offsets stand, and the next owner reads again from there.
            with contextlib.suppress(Exception):
                self._consumer.close()
            raise
        self._save(set(self.shards))
        self._consumer.close()

    def _loop(self, max_idle_s: float | None) -> None:
        last_tick = last_snapshot = last_message = time.monotonic()
        while not self._stop.is_set():
            messages = self._consumer.consume(self.batch, timeout=0.5)
            now = time.monotonic()
            if messages:
                last_message = now
                self._take(messages)
            elif max_idle_s is not None and now - last_message >= max_idle_s:
                break
            if now - last_tick >= self.settings.tick_s:
                last_tick = now
                for shard in list(self.shards.values()):
                    if shard.service.tick():
                        shard.dirty = True
            # Closed windows become durable with the position that passed them within commit_s: a snapshot holds
            # every prediction waiting for its label, so one per batch would cost more than the windows themselves.
            closed = [
                p for p, s in self.shards.items() if s.service.unrecorded and now - s.saved >= self.settings.tick_s
            ]
            if closed:
                self._save(set(closed))
            if now - last_snapshot >= self.settings.snapshot_s:
                last_snapshot = now
                self._save({p for p, s in self.shards.items() if s.dirty})
                self._export_lag()

    def _take(self, messages: Sequence[Message]) -> None:
        by_partition: dict[int, list[Event]] = {}
        passed: dict[int, dict[str, int]] = {}  # partition -> topic -> next offset, applied once handled
        for msg in messages:
            problem = msg.error()
            if problem is not None:
                if problem.code() != KafkaError._PARTITION_EOF:
                    log.warning("monitor: kafka says %s", problem)
                continue
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            if topic is None or partition is None or offset is None:
                continue
            shard = self._shard(partition)
            passed.setdefault(partition, {})[topic] = offset + 1
            events = self._decode(shard, msg)
            if events:
                by_partition.setdefault(partition, []).extend(events)
        for partition, offsets in passed.items():
            shard = self.shards[partition]
            events = by_partition.get(partition, [])
            if events:
                shard.service.handle(events)  # one batch, column-wise; a bad event is set aside and counted
                self.events += len(events)
            shard.offsets.update(offsets)  # only now: a crash before this reads the batch again
            shard.dirty = True
            shard.service.position = shard.position()

    def _decode(self, shard: Shard, msg: Message) -> list[Event]:
        try:
            ce = from_message(msg.value() or b"", msg.headers())  # structured, or binary (ce_* headers)
            if ce.type in (KSERVE_REQUEST, KSERVE_RESPONSE):
                pair = shard.pairs.add(ce)
                return [] if pair is None else [pair]
            return events_of(ce)  # one event, or the many of a columnar batch
        except Exception as exc:  # anything a message can make decoding raise: skipped with a count, never fatal
            self.skipped += 1
            name = type(exc).__name__
            reason = exc.message if isinstance(exc, InvalidInputError) else f"not an event ({name}: {exc})"
            m.MONITOR_EVENTS.labels(outcome="undecodable").inc()
            log.warning("monitor: skipped %s[%s]@%s: %s", msg.topic(), msg.partition(), msg.offset(), reason)
            return []

    def _save(self, partitions: set[int]) -> None:
        """Snapshot these shards (closed windows with them), then commit their offsets to Kafka."""
        commits: list[TopicPartition] = []
        try:  # a shard whose partition this member no longer holds is not written (its new owner's state stands)
            held = {tp.partition for tp in self._consumer.assignment()}
        except (KafkaException, RuntimeError):
            held = set(partitions)
        for p in sorted(partitions):
            shard = self.shards.get(p)
            if shard is None or p not in held:
                continue
            shard.service.position = shard.position()
            try:
                shard.service.snapshot()
            except Exception:  # the store is away: the offsets are not committed, the events come again
                log.exception("monitor: snapshot of partition %d failed", p)
                continue
            shard.dirty = False
            shard.saved = time.monotonic()
            commits += [TopicPartition(t, p, o) for t, o in shard.offsets.items()]
        if commits:
            try:
                self._consumer.commit(offsets=commits, asynchronous=False)
            except KafkaException as exc:  # informational: the snapshot is the truth
                log.warning("monitor: offsets not committed to Kafka (%s)", exc)

    def _export_lag(self) -> None:
        for p, shard in self.shards.items():
            for topic, offset in shard.offsets.items():
                try:
                    _low, high = self._consumer.get_watermark_offsets(TopicPartition(topic, p), cached=True)
                except KafkaException:
                    continue
                if high >= 0:
                    m.MONITOR_LAG.labels(topic, str(p)).set(max(0, high - offset))

    def stop(self) -> None:
        """Ask :meth:`run` to finish: it snapshots every shard and leaves the group."""
        self._stop.set()
