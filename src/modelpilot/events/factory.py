"""The bus a process's settings ask for: the in-process bus, or the Kafka bus with its disk spool.

Each process on a machine gets a spool folder of its own, ``<events.spool.dir or <home>/spool>/<n>``: the first
slot ``n`` no running process holds. A process that restarts takes its slot back (the lowest free one) and
replays what its predecessor left there; two processes never share one. The embedded monitor's event journal
(:func:`open_journal`) takes its slot under ``<home>/journal`` the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpilot.config import Settings
from modelpilot.errors import ConfigError, ConflictError, UnavailableError
from modelpilot.events.bus import Bus, InProcessBus
from modelpilot.events.journal import EventJournal
from modelpilot.events.spool import Spool

if TYPE_CHECKING:
    from modelpilot.events.kafka import KafkaBus

__all__ = ["check_bus", "claim_spool", "kafka_bus", "open_bus", "open_journal"]


def claim_spool(base: Path, *, slots: int = 256, **options: Any) -> Spool:
    """A spool in the first slot folder under ``base`` no other process holds (each spool locks its folder).

    >>> import tempfile
    >>> base = Path(tempfile.mkdtemp())
    >>> a, b = claim_spool(base), claim_spool(base)
    >>> a.directory.name, b.directory.name
    ('0', '1')
    >>> a.close(); b.close()
    """
    for n in range(slots):
        try:
            return Spool(base / str(n), **options)
        except ConflictError:  # held by a running process
            continue
    raise ConfigError(
        f"events.spool.dir: all {slots} spool slots under {base} are held by running processes",
        hint="stop some, or give this process its own events.spool.dir",
    )


def kafka_bus(settings: Settings, *, spool: bool = True, create_topics: bool = True) -> KafkaBus:
    """The Kafka bus of ``settings.events`` (with a disk spool in a slot of its own unless ``spool=False``)."""
    from modelpilot.events.kafka import KafkaBus, KafkaTopics

    ev = settings.events
    k = ev.kafka
    disk = None
    if spool:
        disk = claim_spool(
            ev.spool.dir or settings.home / "spool",
            max_bytes=ev.spool.max_bytes,
            segment_bytes=ev.spool.segment_bytes,
            fsync=ev.spool.fsync,
        )
    try:
        return KafkaBus(
            k.bootstrap,
            topics=KafkaTopics(k.inference_topic, k.feedback_topic, k.signals_topic),
            partitions=k.partitions,
            config=k.config,
            create_topics=create_topics,
            capacity=ev.queue_size,
            spool=disk,
            message_timeout_s=k.message_timeout_s,
            batch=k.batch,
        )
    except Exception as exc:
        if disk is not None:
            disk.close()
        raise UnavailableError(
            f"events.kafka.bootstrap: the Kafka brokers at {k.bootstrap} cannot be reached ({exc})",
            hint="start the brokers, or fix MODELPILOT_EVENTS__KAFKA__BOOTSTRAP",
        ) from exc


def check_bus(settings: Settings) -> None:
    """Refuse event settings that cannot work together (before anything is started)."""
    if settings.events.bus == "kafka" and settings.events.jsonl_path is not None:
        raise ConfigError(
            "events.jsonl_path: with events.bus=kafka the events are on the Kafka topics, not in a file",
            hint="unset events.jsonl_path, or set events.bus=memory",
        )


def open_bus(settings: Settings) -> Bus:
    """The bus ``settings.events.bus`` names."""
    check_bus(settings)
    if settings.events.bus == "kafka":
        return kafka_bus(settings)
    ev = settings.events
    spill = None
    if ev.spill:  # a process crash keeps what the page cache holds; the overflow needs no fsync to be useful
        spill = claim_spool(
            settings.home / "overflow",
            max_bytes=ev.spool.max_bytes,
            segment_bytes=ev.spool.segment_bytes,
            fsync="never",
        )
    return InProcessBus(ev.queue_size, spill=spill)


def open_journal(settings: Settings) -> EventJournal | None:
    """The embedded monitor's event journal, in a slot of its own under ``<home>/journal`` (``None`` when
    ``monitor.journal`` is off). A restarted process takes the lowest free slot: its predecessor's, to replay."""
    if not settings.monitor.journal:
        return None
    ev = settings.events
    spool = claim_spool(
        settings.home / "journal",
        max_bytes=ev.spool.max_bytes,
        segment_bytes=ev.spool.segment_bytes,
        fsync=ev.spool.fsync,
        journal=True,
    )
    return EventJournal(spool)
