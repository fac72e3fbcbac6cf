"""The embedded monitor's event journal: a killed ``modelpilot up`` replays what its monitor had taken since its last
snapshot, instead of losing it.

The monitor writes every batch it takes to the journal before folding it in (one record per batch, one ``write``),
and after each snapshot deletes the segments the snapshot covers (:meth:`EventJournal.mark` is taken when the state
is captured, :meth:`EventJournal.release` once it is stored). At start, after restoring the snapshot, the monitor
replays what the journal still holds (:meth:`EventJournal.replay`) — exactly the events the snapshot lacks.

The journal is a :class:`~modelpilot.events.spool.Spool` (``journal=True``): its segment files are in the page cache
when :meth:`EventJournal.write` returns, so they survive the process being killed; surviving a power loss follows the
spool's ``fsync`` policy. Its size is ``modelpilot_journal_bytes``; a batch it cannot write (full, disk error, or a
value this codec cannot hold) is still monitored, and counted in ``modelpilot_journal_unwritten_total``.

Encoding: one orjson array per event with the numpy columns written by orjson itself (about 1 µs for a 1-row event
of five features, on the monitor's delivery thread). A replayed event is the event as the Kafka bus would carry it
(the same JSON, read by the same code): NaN and ±inf come back as missing values, integers as int64.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from modelpilot.events.model import InferenceEvent, LabelEvent
    >>> from modelpilot.events.spool import Spool
    >>> tmp = Path(tempfile.mkdtemp())
    >>> journal = EventJournal(Spool(tmp, fsync="never", journal=True))
    >>> event = InferenceEvent("r1", 1.0, "credit", 1, "stable", {"x": np.array([np.nan, 2.0])}, np.array([0, 1]),
    ...                        0.01, 200)
    >>> journal.write([event, LabelEvent("r1", 1, 2.0)])
    True
    >>> journal.close()
    >>> again = EventJournal(Spool(tmp, fsync="never", journal=True))  # a restarted process
    >>> [batch] = list(again.replay())
    >>> batch[0].features["x"].tolist(), batch[1].request_id
    ([nan, 2.0], 'r1')
    >>> again.release(again.mark())  # a snapshot covering them was stored
    >>> list(again.replay())
    []
    >>> again.close()
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modelpilot.events.model import Event, InferenceEvent, LabelEvent
from modelpilot.events.spool import Spool
from modelpilot.telemetry import metrics

__all__ = ["EventJournal", "Tick", "decode_batch", "encode_batch"]

log = logging.getLogger(__name__)

_TOPIC = "monitor"  # the spool's record topic: one kind of record here


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):  # object dtype (orjson writes the others itself)
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


_FIELDS = ("request_id", "time", "model", "version", "variant", "features", "prediction", "probabilities", "classes",
           "latency_s", "status", "error", "protocol")  # fmt: skip


def encode_batch(events: Sequence[Event]) -> bytes:
    """The inference and label events of ``events`` as one journal record (other kinds are not the monitor's).

    Raises ``TypeError`` for a value JSON cannot hold (an arbitrary object in an object-dtype column).
    """
    out: list[Any] = []
    for e in events:
        if isinstance(e, InferenceEvent):
            out.append(
                ("i", e.request_id, e.time, e.model, e.version, e.variant, e.features, e.prediction, e.probabilities,
                 e.classes, e.latency_s, e.status, e.error, e.protocol)
            )  # fmt: skip
        elif isinstance(e, LabelEvent):
            out.append(("l", e.request_id, e.label, e.time, e.model))
    return orjson.dumps(out, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)


@dataclass(frozen=True, slots=True)
class Tick:
    """A tick of the monitor's clock that closed windows or expired label joins, at ``time``: replayed in its place
    between the batches, so that the replay closes the same windows the killed process closed."""

    time: float


def _decode(data: bytes) -> list[Event] | Tick:
    items = orjson.loads(data)
    if items and items[0][0] == "t":
        return Tick(float(items[0][1]))
    return decode_batch(data)


def decode_batch(data: bytes) -> list[Event]:
    """The events of one :func:`encode_batch` record, read as the Kafka bus's JSON is read
    (:meth:`InferenceEvent.from_dict <modelpilot.events.model.InferenceEvent.from_dict>`)."""
    events: list[Event] = []
    for item in orjson.loads(data):
        try:
            if item[0] == "i":
                events.append(InferenceEvent.from_dict(dict(zip(_FIELDS, item[1:], strict=True))))
            elif item[0] == "l":
                events.append(LabelEvent(item[1], item[2], item[3], item[4]))
        except Exception:  # one event this code cannot read back costs that event, not its batch
            metrics.JOURNAL_UNWRITTEN.labels(reason="unreadable").inc()
            log.exception("event journal: an event could not be read back; the rest of its batch replays")
    return events


class EventJournal:
    """What the embedded monitor took since its last snapshot, on disk.

    Parameters
    ----------
    spool
        The segment files (a :class:`~modelpilot.events.spool.Spool` made with ``journal=True``; one per process).
    """

    def __init__(self, spool: Spool) -> None:
        self.spool = spool

    def write(self, events: Sequence[Event]) -> bool:
        """Journal a batch (one record); False when it could not be (counted; the batch is monitored anyway)."""
        try:
            value = encode_batch(events)
        except (TypeError, ValueError) as exc:
            metrics.JOURNAL_UNWRITTEN.labels(reason="unencodable").inc(len(events))
            log.error("event journal: a batch of %d events could not be encoded (%s); not journaled", len(events), exc)
            return False
        return self.spool.append([(_TOPIC, b"", value)]) == 1

    def write_tick(self, now: float) -> bool:
        """Journal a tick at ``now`` that changed the state (closed windows, expired joins)."""
        return self.spool.append([(_TOPIC, b"", orjson.dumps([("t", now)]))]) == 1

    def mark(self) -> int:
        """Where the journal stands: take it with the state a snapshot stores, and :meth:`release` it once stored."""
        return self.spool.mark()

    def release(self, mark: int) -> None:
        """Forget what was written before ``mark``: a stored snapshot covers it."""
        self.spool.drop_before(mark)

    def replay(self) -> Iterator[list[Event]]:
        """The batches a predecessor journaled and no snapshot covered, in the order they were taken."""
        for entry in self.entries():
            if not isinstance(entry, Tick):
                yield entry

    def entries(self) -> Iterator[list[Event] | Tick]:
        """The batches and the ticks between them, in the order the predecessor took them."""
        for batch in self.spool.scan():
            for _, _, value in batch.records:
                try:
                    entry = _decode(value)
                except Exception:  # written by this code: a bug or a damaged disk; the rest still replays
                    metrics.JOURNAL_UNWRITTEN.labels(reason="spool_corrupt").inc()
                    log.exception("event journal: a record in segment %d could not be read back", batch.segment)
                    continue
                yield entry

    @property
    def bytes(self) -> int:
        """Bytes the journal's segment files hold."""
        return self.spool.bytes

    def close(self) -> None:
        """Seal the segment being written and unlock the folder; what it holds stays for the next process."""
        self.spool.close()
