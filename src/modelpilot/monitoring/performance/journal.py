"""What a label joiner holds, as store rows written incrementally: one *segment* row per snapshot.

A :class:`~modelpilot.monitoring.performance.labels.LabelJoiner` with a journal notes every request whose entry it
added, changed or dropped (:class:`Journal`). At a snapshot the monitor turns those notes into one row of the
``label_joins`` table (:func:`changes`): a segment holding the entries added or changed since the last one (each
with its position, ``seq``) and the requests whose stored entries went or changed (``drop``). Its cost is what
happened since the last snapshot — one row and one statement however many predictions it holds — not what is held.
On restore the segments are read in order (drops first, then entries) and the entries that survive are taken back
in ``seq`` order, which is the order the joiner took them in, so expiry and eviction continue exactly.

Segments are forgotten when they hold nothing alive: from the oldest end (a segment's drops only concern older
ones), and by *compaction* — every row replaced by one segment of what is held — when the segments hold more than
twice what is alive plus 10,000 entries, so the rows stay within a small factor of what is held.

Example:
    >>> from modelpilot.monitoring.performance.labels import LabelJoiner
    >>> j = LabelJoiner(clock=lambda: 0.0).journaled()
    >>> j.add_prediction("r1", "credit", 1, "stable", 0.0, [1])
    >>> ch = changes(j, j.journal.take())
    >>> [(kind, data["id"]) for kind, _, data in ch.segment["data"]["entries"]], len(ch)
    ([('pending', 'r1')], 1)
    >>> j.journal.committed(ch)
    >>> back = LabelJoiner(clock=lambda: 0.0).journaled().load([ch.segment])
    >>> back.pending
    1
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelpilot.errors import InvalidInputError

if TYPE_CHECKING:
    from modelpilot.monitoring.performance.labels import LabelJoiner

__all__ = ["KINDS", "SEGMENT", "Changes", "Journal", "changes", "unpack"]

KINDS = ("pending", "label", "gone")
"""``pending``: predictions waiting for their label; ``label``: labels waiting for (more) predictions; ``gone``:
requests whose predictions were dropped unlabelled (a label for them is ``late``)."""
SEGMENT = "segment"
"""The ``kind`` of a segment row (rows of the other kinds, one per entry, were written by an older build)."""
COMPACT_SLACK = 10_000
"""Dead entries the segments may hold beyond the live ones before they are compacted."""

Key = tuple[str, str]  # (kind, request id)
Mark = tuple[int | None, bool]
"""The position of an entry added since the last take (``None``: a stored entry changed or went), and whether a
stored row may have to go first (kept for older callers; the segments know what is stored)."""


@dataclass
class Journal:
    """Entries added (with their position) or changed/dropped since the last :meth:`take`, and where the stored
    ones are."""

    seq: int = 0
    """The last position handed out: entries are restored in this order."""
    marks: dict[Key, Mark] = field(default_factory=dict)
    """(kind, request id) -> its :data:`Mark`."""
    stored: dict[Key, tuple[int, int]] = field(default_factory=dict)
    """Entries in stored segments: (kind, request id) -> (segment, position)."""
    sizes: dict[int, int] = field(default_factory=dict)
    """Stored segments: entries each was written with."""
    live: dict[int, int] = field(default_factory=dict)
    """Stored segments: entries of each still alive."""
    next_segment: int = 0
    compact: bool = False
    """Replace every row at the next snapshot (rows of an older layout were loaded)."""
    unsure: list[int] = field(default_factory=list)
    """Segments handed out by :func:`changes` whose write was not confirmed: a write can commit and still report a
    failure, so the next segment deletes them (what they held is written again from the marks given back)."""

    def added(self, kind: str, request_id: str) -> None:
        """A new entry (written with the next position)."""
        self.seq += 1
        key = (kind, request_id)
        self.marks[key] = (self.seq, key in self.marks)

    def touched(self, kind: str, request_id: str) -> None:
        """An entry changed or went (a stored one keeps its position)."""
        self.marks.setdefault((kind, request_id), (None, True))

    def take(self) -> dict[Key, Mark]:
        """The marks so far, and start afresh."""
        out, self.marks = self.marks, {}
        return out

    def give_back(self, marks: Mapping[Key, Mark]) -> None:
        """Marks whose segment could not be written: noted again, merged with newer marks of the same entries."""
        for k, (seq, replaces) in marks.items():
            if k not in self.marks:
                self.marks[k] = (seq, replaces)
            else:  # newer: keep its position if it has one, or the unwritten one
                new_seq, new_replaces = self.marks[k]
                self.marks[k] = (new_seq if new_seq is not None else seq, new_replaces or replaces)

    def committed(self, ch: Changes) -> None:
        """The rows of ``ch`` were written: what is stored is now what it planned (and segments of unconfirmed
        writes before it are gone)."""
        self.stored, self.sizes, self.live = ch.stored, ch.sizes, ch.live
        self.compact = False
        self.unsure.clear()

    def restored(self, stored: dict[Key, tuple[int, int]], sizes: dict[int, int], *, compact: bool) -> None:
        """What :func:`unpack` found in the rows."""
        self.stored, self.sizes = stored, sizes
        self.live = dict.fromkeys(sizes, 0)
        for segment, _ in stored.values():
            self.live[segment] = self.live.get(segment, 0) + 1
        self.next_segment = max(sizes, default=-1) + 1
        self.compact = compact
        self.seq = max([self.seq, *(seq for _, seq in stored.values())])


@dataclass
class Changes:
    """The row statements of one snapshot: every row of the owner goes first (``clear``), the segments numbered
    ``deletes`` go, and ``segment`` (a row dict, or ``None``) comes. ``stored``, ``sizes`` and ``live`` are what
    the journal knows once they are written (:meth:`Journal.committed`)."""

    segment: dict[str, Any] | None = None
    deletes: list[int] = field(default_factory=list)
    clear: bool = False
    stored: dict[Key, tuple[int, int]] = field(default_factory=dict)
    sizes: dict[int, int] = field(default_factory=dict)
    live: dict[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.clear) + len(self.deletes) + int(self.segment is not None)


def _key(segment: int) -> str:
    return f"{segment:020d}"


def changes(joiner: LabelJoiner, marks: Iterable[tuple[Key, Mark]] | Mapping[Key, Mark]) -> Changes:
    """The rows that bring the stored entries up to the joiner's current ones, for ``marks`` (the journal is not
    changed, but for the segment number it hands out: call :meth:`Journal.committed` once they are written)."""
    journal = joiner.journal
    assert journal is not None, "changes() needs a journaled joiner"
    n = journal.next_segment
    journal.next_segment += 1  # a number is never used twice, even when a write reported a failure it did not have
    maybe = list(journal.unsure)  # earlier writes that may have committed after all: their rows go
    journal.unsure.append(n)
    stored = dict(journal.stored)
    live = dict(journal.live)
    entries: list[list[Any]] = []
    drops: list[list[str]] = []
    items = marks.items() if isinstance(marks, Mapping) else marks
    for key, (seq, _) in items:
        kind, rid = key
        old = stored.pop(key, None)
        if old is not None:
            drops.append([kind, rid])
            live[old[0]] -= 1
            seq = old[1] if seq is None else seq
        data = joiner.entry(kind, rid)
        if data is None:
            continue
        if seq is None:  # changed, yet no stored row known: it goes at the end
            journal.seq += 1
            seq = journal.seq
        entries.append([kind, seq, data])
        stored[key] = (n, seq)
    sizes = dict(journal.sizes)
    if entries or drops:
        sizes[n] = len(entries)
        live[n] = len(entries)
    alive = sum(live.values())
    if journal.compact or sum(sizes.values()) > 2 * alive + COMPACT_SLACK:
        held = [(key, seq, joiner.entry(*key)) for key, (_, seq) in sorted(stored.items(), key=lambda kv: kv[1][1])]
        held = [(key, seq, data) for key, seq, data in held if data is not None]  # (all are, unless a mark was lost)
        full = [[key[0], seq, data] for key, seq, data in held]
        whole = {"kind": SEGMENT, "key": _key(n), "seq": n, "data": {"entries": full, "drop": []}}
        return Changes(whole, [], True, {key: (n, seq) for key, seq, _ in held}, {n: len(full)}, {n: len(full)})
    deletes: list[int] = list(maybe)
    for segment in sorted(sizes):  # dead segments go from the oldest end: a segment's drops concern older ones
        if live.get(segment, 0) or segment == n:
            break
        deletes.append(segment)
        sizes.pop(segment)
        live.pop(segment, None)
    row: dict[str, Any] | None = None
    if entries or drops:
        row = {"kind": SEGMENT, "key": _key(n), "seq": n, "data": {"entries": entries, "drop": drops}}
    return Changes(row, deletes, False, stored, sizes, live)


def unpack(
    rows: Iterable[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], dict[Key, tuple[int, int]], dict[int, int], bool]:
    """The entries the rows hold, alive and in ``seq`` order (``kind``, ``seq``, ``data``), where each is stored,
    the segments' sizes, and whether rows of the older one-row-per-entry layout were among them."""
    alive: dict[Key, tuple[int, int, Any]] = {}  # key -> (segment, seq, data)
    sizes: dict[int, int] = {}
    older = False
    try:
        ordered = sorted(rows, key=lambda r: (r["kind"] == SEGMENT, int(r["seq"])))
        for row in ordered:
            if row["kind"] != SEGMENT:  # an older build's row: one entry
                older = True
                alive[(str(row["kind"]), str(row["data"]["id"]))] = (-1, int(row["seq"]), row["data"])
                continue
            segment, data = int(row["seq"]), row["data"]
            for kind, rid in data["drop"]:
                alive.pop((str(kind), str(rid)), None)
            for kind, seq, entry in data["entries"]:
                alive[(str(kind), str(entry["id"]))] = (segment, int(seq), entry)
            sizes[segment] = len(data["entries"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"label joins: not a joiner's rows ({exc})", hint="pass what changes() wrote") from exc
    if older:
        sizes[-1] = sum(1 for segment, _, _ in alive.values() if segment == -1)
    entries = [
        {"kind": kind, "seq": seq, "data": data}
        for (kind, _), (_, seq, data) in sorted(alive.items(), key=lambda kv: kv[1][1])
    ]
    stored = {key: (segment, seq) for key, (segment, seq, _) in alive.items()}
    return entries, stored, sizes, older
