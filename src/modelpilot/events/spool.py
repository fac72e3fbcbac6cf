"""A bounded on-disk spool of encoded Kafka messages: what the bus cannot hand to an unreachable broker waits here,
in order, and is replayed when the broker returns. No Kafka in here; :class:`Spool` only stores ``(topic, key,
value)`` records.

Layout
    ``directory`` holds append-only segment files named by an increasing, zero-padded sequence number
    (``00000000000000000042.spool``). Replay order is sequence order, and write order within a segment. A new
    :class:`Spool` on the same directory (a restarted process) finds the segments, restores :attr:`Spool.pending`
    and :attr:`Spool.bytes`, and continues the numbering in a new segment. An exclusive ``flock`` on
    ``directory/.lock`` keeps two spools off one directory: give each worker process its own.

Format
    A segment starts with the 8-byte magic ``MPSPOOL1``, then records, each framed (little-endian) as
    ``u32 body length, u32 crc32(body)`` and a body of ``u16 topic length, u32 key length, u32 value length``
    followed by the UTF-8 topic, the key and the value. A torn or corrupt record (a crash in the middle of a write,
    a bad disk) ends what can be read: the good records before it are kept, the rest are dropped, logged at ERROR
    and counted in ``modelpilot_events_dropped_total{reason="spool_corrupt"}`` (a torn tail found when a spool opens
    is cut off the file and counts as one event: how many it held is unknown).

Bounds
    At most ``max_bytes`` on disk: records that do not fit are dropped, never silently: counted with
    ``reason="spool_full"`` and logged at ERROR at most once a second with the running total. A segment is sealed
    when the next record would take it past ``segment_bytes``; a record bigger than that gets a segment of its own
    (if it fits under ``max_bytes``). Failed writes (a full disk below ``max_bytes``) count with
    ``reason="spool_error"``, appends after :meth:`Spool.close` with ``reason="spool_closed"``.

Durability (``fsync``)
    Each :meth:`Spool.append` writes its records with one unbuffered ``write`` per segment, so what it reports as
    written is in the OS page cache when it returns and survives the process crashing in every mode. ``fsync``
    decides what survives the machine losing power:

    - ``"always"``: the segment is fsynced after every append call (slowest; nothing acknowledged is lost).
    - ``"segment"`` (default): a segment is fsynced when it is sealed (full, read by :meth:`Spool.oldest`, or at
      :meth:`Spool.close`), and otherwise at most once a second, by the append that passes the second; a power loss
      can lose up to the last second of appends.
    - ``"never"``: no fsync; the OS writes the pages back when it likes (a power loss can lose what it had not).

    New segment files also fsync their directory unless ``fsync="never"``.

Replay
    :meth:`Spool.oldest` returns the oldest segment's records as a :class:`Batch` (sealing the segment being
    written first, so a batch never changes; calling it again returns the same batch until it is released);
    :meth:`Spool.release` deletes the segment once the batch was delivered. A crash between delivery and release
    delivers the batch again: at least once, as the event ids let consumers deduplicate.

Thread safety: one lock guards the state; appends may come from several threads, :meth:`Spool.oldest` and
:meth:`Spool.release` from a replay thread (segment files are read outside the lock).

Metrics: ``modelpilot_spool_events`` and ``modelpilot_spool_bytes`` (held now), ``modelpilot_spool_written_total``
and ``modelpilot_spool_replayed_total`` (records), ``modelpilot_events_dropped_total{reason=...}``.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> tmp = tempfile.TemporaryDirectory()
    >>> spool = Spool(Path(tmp.name), max_bytes=1 << 20, segment_bytes=64 << 10)
    >>> spool.append([("modelpilot.inference", b"credit", b'{"id": "1"}'), ("modelpilot.feedback", b"credit", b"{}")])
    2
    >>> spool.pending
    2
    >>> batch = spool.oldest()
    >>> [topic for topic, key, value in batch.records]
    ['modelpilot.inference', 'modelpilot.feedback']
    >>> spool.release(batch)
    >>> spool.pending, spool.bytes, spool.oldest()
    (0, 0, None)
    >>> spool.close()
    >>> tmp.cleanup()
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import logging
import math
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, get_args

from modelpilot.errors import ConflictError, InvalidInputError
from modelpilot.events.spool_codec import MAGIC, Record, frame, parse
from modelpilot.telemetry import metrics

__all__ = ["MAGIC", "Batch", "Fsync", "Record", "Spool", "frame", "parse"]

log = logging.getLogger(__name__)

Fsync = Literal["always", "segment", "never"]
"""When a spool fsyncs its segment files (see the module docstring)."""

_SUFFIX = ".spool"
_NAME = re.compile(r"^(\d{20})\.spool$")
_INTERVAL = 1.0  # seconds between fsyncs (fsync="segment") and between repeated drop logs


@dataclass(frozen=True, slots=True)
class Batch:
    """The records of one sealed segment, oldest first; give it to :meth:`Spool.release` once delivered."""

    segment: int
    records: list[Record]


@dataclass(slots=True)
class _Segment:
    seq: int
    path: Path
    records: int
    bytes: int


class Spool:
    """A bounded, ordered, on-disk queue of encoded messages in append-only segment files.

    Parameters
    ----------
    directory
        Where the segment files live (created if missing); one spool per directory at a time.
    max_bytes
        The most the segment files may hold together; records that do not fit are dropped and counted.
    segment_bytes
        The size at which a segment is sealed and a new one started (the unit of replay and deletion).
    fsync
        ``"always"``, ``"segment"`` or ``"never"``: see the module docstring.
    clock
        Monotonic seconds, for the once-a-second fsync and drop log (injected in tests).
    journal
        A journal rather than a queue (the embedded monitor's, :mod:`modelpilot.events.journal`): what it holds is
        exported as ``modelpilot_journal_bytes`` and what it cannot write as
        ``modelpilot_journal_unwritten_total{reason}`` (the events were watched; only a crash would lose them), not
        as spool backlog or dropped events.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 1 << 30,
        segment_bytes: int = 16 << 20,
        fsync: Fsync = "segment",
        clock: Callable[[], float] = time.monotonic,
        journal: bool = False,
    ) -> None:
        if max_bytes <= len(MAGIC):
            raise InvalidInputError(f"spool max_bytes: {max_bytes} is too small", hint="give at least a few MiB")
        if segment_bytes <= len(MAGIC):
            raise InvalidInputError(f"spool segment_bytes: {segment_bytes} is too small", hint="16 MiB is typical")
        if fsync not in get_args(Fsync):
            raise InvalidInputError(f"spool fsync: {fsync!r} is not one of always, segment, never")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync: Fsync = fsync
        self._clock = clock
        self.journal = journal
        self._lock = threading.Lock()
        self._segments: deque[_Segment] = deque()
        self._active: _Segment | None = None  # the segment being written (always the last one)
        self._fd: int | None = None
        self._synced_at = 0.0
        self._next_seq = 0
        self._pending = 0
        self._bytes = 0
        self._batch: Batch | None = None  # the batch oldest() handed out and not yet released
        self._dropped: dict[str, int] = {}
        self._logged: dict[str, tuple[float, int]] = {}  # reason -> (when last logged, total then)
        self._closed = False
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = self._take_directory()
        try:
            self._recover()
        except BaseException:
            os.close(self._lock_fd)
            raise

    # ------------------------------------------------------------------------------------------------ state
    @property
    def pending(self) -> int:
        """Records held (written and not released)."""
        return self._pending

    @property
    def bytes(self) -> int:
        """Bytes the segment files hold."""
        return self._bytes

    @property
    def segments(self) -> list[int]:
        """Sequence numbers of the segments held, oldest first."""
        with self._lock:
            return [s.seq for s in self._segments]

    @property
    def dropped(self) -> dict[str, int]:
        """Records this spool dropped, by reason (``spool_full``, ``spool_corrupt``, ``spool_error``, ...)."""
        with self._lock:
            return dict(self._dropped)

    # ----------------------------------------------------------------------------------------------- append
    def append(self, records: Sequence[Record]) -> int:
        """Write records at the end; returns how many were written.

        Records that do not fit under ``max_bytes`` are dropped: counted in ``modelpilot_events_dropped_total``
        with ``reason="spool_full"`` and logged at ERROR at most once a second with the running total. The rest keep
        their order.
        """
        if not records:
            return 0
        frames = [frame(r) for r in records]  # before the lock: a bad record raises before anything is written
        with self._lock:
            if self._closed:
                self._drop("spool_closed", len(frames), "the spool is closed")
                return 0
            written = full = 0
            chunk: list[bytes] = []
            chunk_bytes = 0
            for i, f in enumerate(frames):
                active = self._active
                fits = active is not None and (
                    active.records + len(chunk) == 0 or active.bytes + chunk_bytes + len(f) <= self.segment_bytes
                )
                need = len(f) if fits else len(f) + len(MAGIC)
                if self._bytes + chunk_bytes + need > self.max_bytes:
                    full += 1
                    continue
                if not fits:
                    written += self._write(chunk, chunk_bytes)
                    chunk, chunk_bytes = [], 0
                    self._seal()
                    try:
                        self._open_segment()
                    except OSError as exc:
                        self._drop("spool_error", len(frames) - i, f"cannot start a segment: {exc}")
                        break
                chunk.append(f)
                chunk_bytes += len(f)
            written += self._write(chunk, chunk_bytes)
            if full:
                self._drop("spool_full", full, f"holds {self._bytes} of max_bytes={self.max_bytes}")
            due = self.fsync == "always" or (self.fsync == "segment" and self._clock() - self._synced_at >= _INTERVAL)
            if due and written and self._fd is not None:
                with contextlib.suppress(OSError):  # _sync logged it
                    self._sync()
            return written

    def _write(self, chunk: list[builtins.bytes], size: int) -> int:
        """Write ``chunk`` at the end of the active segment; how many records went in (0 after a failed write)."""
        seg, fd = self._active, self._fd
        if not chunk or seg is None or fd is None:
            return 0
        data = memoryview(b"".join(chunk))
        try:
            while data:
                data = data[os.write(fd, data) :]
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, seg.bytes)  # no torn record left behind, if the disk lets us
            self._drop("spool_error", len(chunk), f"cannot write {seg.path.name}: {exc}")
            self._seal()
            return 0
        seg.records += len(chunk)
        seg.bytes += size
        self._account(len(chunk), size)
        if not self.journal:
            metrics.SPOOL_WRITTEN.inc(len(chunk))
        return len(chunk)

    # ------------------------------------------------------------------------------------------------ replay
    def oldest(self) -> Batch | None:
        """The oldest segment's records, or None when the spool holds none.

        Reading the segment being written seals it first (new appends go to a new segment), so a batch never
        changes; until it is released, every call returns the same batch.
        """
        while True:
            with self._lock:
                if self._closed or not self._segments:
                    return None
                seg = self._segments[0]
                if self._batch is not None and self._batch.segment == seg.seq:
                    return self._batch
                if seg.records == 0:  # only the active segment can be empty
                    return None
                if seg is self._active:
                    self._seal()
            records, end, size, problem = _read(seg)
            with self._lock:
                if self._closed or not self._segments or self._segments[0] is not seg:
                    continue  # released meanwhile
                self._check_read(seg, records, end, size, problem)
                self._account(len(records) - seg.records, 0)
                seg.records = len(records)
                if not records:
                    self._remove(seg)
                    continue
                self._batch = Batch(seg.seq, records)
                return self._batch

    def release(self, batch: Batch) -> None:
        """The batch was delivered: delete its segment file and count its records as replayed.

        Releasing a batch twice does nothing; after :meth:`close` the segment stays (and is replayed again).
        """
        with self._lock:
            if self._closed:
                log.warning("spool %s: segment %d released after close; it stays", self.directory, batch.segment)
                return
            seg = next((s for s in self._segments if s.seq == batch.segment), None)
            if seg is None or seg is self._active:
                return
            self._remove(seg)
            if not self.journal:
                metrics.SPOOL_REPLAYED.inc(len(batch.records))

    # ----------------------------------------------------------------------------------------------- journal
    def mark(self) -> int:
        """Seal the segment being written and return a mark: every record appended so far is in a segment below it
        (see :meth:`drop_before`)."""
        with self._lock:
            if not self._closed:
                self._seal()
            return self._next_seq

    def drop_before(self, mark: int) -> int:
        """Delete the segments below ``mark`` (from :meth:`mark`) without reading them; returns the records they held.

        For a journal whose records are covered by a checkpoint made after the mark was taken.
        """
        with self._lock:
            if self._closed:
                return 0
            gone = [s for s in self._segments if s.seq < mark and s is not self._active]
            for seg in gone:
                self._remove(seg)
            return sum(s.records for s in gone)

    def scan(self) -> Iterator[Batch]:
        """The sealed segments' records, oldest first, without releasing them (a journal's replay at start).

        A corrupt segment yields its good records, like :meth:`oldest`, and the loss is logged and counted.
        """
        with self._lock:
            sealed = [s for s in self._segments if s is not self._active]
        for seg in sealed:
            records, end, size, problem = _read(seg)
            with self._lock:
                self._check_read(seg, records, end, size, problem)
            yield Batch(seg.seq, records)

    def _check_read(self, seg: _Segment, records: list[Record], end: int, size: int, problem: str) -> None:
        """Log and count (under the lock) what a read of ``seg`` found damaged: the records beyond the good ones."""
        lost = max(seg.records - len(records), 0)
        if problem or end < size or lost:
            log.error(
                "spool %s: segment %s is corrupt at byte %d of %d (%s): %d good records kept, %d dropped",
                self.directory, seg.path.name, end, size, problem or "bad record", len(records), lost,
            )  # fmt: skip
            self._count_drop("spool_corrupt", lost)

    # ------------------------------------------------------------------------------------------------- close
    def close(self) -> None:
        """Seal (and, unless ``fsync="never"``, fsync) the segment being written and unlock the directory.

        The segments stay on disk for the next spool on this directory; appends after this are dropped and counted.
        """
        with self._lock:
            if self._closed:
                return
            self._seal()
            self._closed = True
            for reason, total in self._dropped.items():
                if self._logged.get(reason, (0.0, 0))[1] != total:
                    log.error("spool %s: %d events dropped in all (%s)", self.directory, total, reason)
            if self.journal:
                metrics.JOURNAL_BYTES.dec(self._bytes)
            else:
                metrics.SPOOL_EVENTS.dec(self._pending)  # this process no longer holds them
                metrics.SPOOL_BYTES.dec(self._bytes)
            os.close(self._lock_fd)

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Spool({str(self.directory)!r}, pending={self._pending}, bytes={self._bytes})"

    # ------------------------------------------------------------------------------------------------ helpers
    def _take_directory(self) -> int:
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConflictError(
                f"spool directory {self.directory} is in use by another spool",
                hint="give each process (each server worker) its own spool directory",
            ) from None
        return fd

    def _recover(self) -> None:
        """Find the segments a previous spool left, cut torn tails, and continue the numbering."""
        names = ((m, p) for p in self.directory.iterdir() if (m := _NAME.fullmatch(p.name)) and p.is_file())
        found = sorted((int(m[1]), p) for m, p in names)
        for seq, path in found:
            self._next_seq = max(self._next_seq, seq + 1)
            data = path.read_bytes()
            if not data.startswith(MAGIC):
                if MAGIC.startswith(data):  # torn while being created: holds nothing
                    path.unlink()
                else:
                    log.error("spool %s: %s has no %r header; not a segment this build reads, left alone",
                              self.directory, path.name, MAGIC)  # fmt: skip
                continue
            records, end = parse(data)
            if end < len(data):
                log.error(
                    "spool %s: segment %s has a torn or corrupt record at byte %d: %d good records kept, the last "
                    "%d bytes cut off",
                    self.directory, path.name, end, len(records), len(data) - end,
                )  # fmt: skip
                self._count_drop("spool_corrupt", 1)
                os.truncate(path, end)
            if not records:
                path.unlink()
                continue
            self._segments.append(_Segment(seq, path, len(records), end))
            self._account(len(records), end)
        if found:
            log.info(
                "spool %s: %d records in %d segments to replay", self.directory, self._pending, len(self._segments)
            )

    def _open_segment(self) -> None:
        seq = self._next_seq
        self._next_seq += 1
        path = self.directory / f"{seq:020d}{_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            os.write(fd, MAGIC)
            if self.fsync != "never":
                self._sync_directory()
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        seg = _Segment(seq, path, 0, len(MAGIC))
        self._segments.append(seg)
        self._active, self._fd, self._synced_at = seg, fd, self._clock()
        self._account(0, len(MAGIC))

    def _seal(self) -> None:
        """Close the segment being written (fsynced unless fsync="never"); an empty one is deleted."""
        seg, fd = self._active, self._fd
        self._active, self._fd = None, None
        if fd is not None:
            if self.fsync != "never":
                with contextlib.suppress(OSError):  # _sync logged it
                    self._sync(fd)
            os.close(fd)
        if seg is not None and seg.records == 0:
            self._remove(seg)

    def _sync(self, fd: int | None = None) -> None:
        fd = self._fd if fd is None else fd
        if fd is None:
            return
        try:
            os.fsync(fd)
        except OSError as exc:
            self._complain("fsync", f"fsync failed: {exc}; the last writes may not survive a power loss")
            raise
        finally:
            self._synced_at = self._clock()

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _remove(self, seg: _Segment) -> None:
        try:
            seg.path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("spool %s: cannot delete %s (%s); it would be replayed again", self.directory, seg.path, exc)
        self._segments.remove(seg)
        self._account(-seg.records, -seg.bytes)
        if self._batch is not None and self._batch.segment == seg.seq:
            self._batch = None

    def _account(self, records: int, size: int) -> None:
        self._pending += records
        self._bytes += size
        if self.journal:
            metrics.JOURNAL_BYTES.inc(size)
        else:
            metrics.SPOOL_EVENTS.inc(records)
            metrics.SPOOL_BYTES.inc(size)

    def _count_drop(self, reason: str, n: int) -> int:
        """Count ``n`` records lost for ``reason``; return this spool's total for it."""
        if self.journal:
            metrics.JOURNAL_UNWRITTEN.labels(reason=reason).inc(n)
        else:
            metrics.EVENTS_DROPPED.labels(reason=reason).inc(n)
        total = self._dropped[reason] = self._dropped.get(reason, 0) + n
        return total

    def _drop(self, reason: str, n: int, why: str) -> None:
        total = self._count_drop(reason, n)
        self._complain(reason, f"{total} events dropped so far ({reason}): {why}", total=total)

    def _complain(self, key: str, message: str, *, total: int = 0) -> None:
        """Log at ERROR, at most once a second per key."""
        now = self._clock()
        if now - self._logged.get(key, (-math.inf, 0))[0] >= _INTERVAL:
            self._logged[key] = (now, total)
            log.error("spool %s: %s", self.directory, message)


def _read(seg: _Segment) -> tuple[list[Record], int, int, str]:
    """A segment's good records, where they end, the file's size, and what is wrong with it ("" if nothing)."""
    try:
        data = seg.path.read_bytes()
        problem = "" if data.startswith(MAGIC) else f"no {MAGIC!r} header"
    except OSError as exc:
        data, problem = b"", f"unreadable ({exc})"
    records, end = parse(data) if not problem else ([], 0)
    return records, end, len(data), problem
