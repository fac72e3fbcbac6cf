"""What a label joiner holds, as store rows written incrementally: one row per request and kind.

A :class:`~modelpilot.monitoring.performance.labels.LabelJoiner` with a journal notes every request whose entry it
added, changed or dropped (:class:`Journal`); at a snapshot the monitor turns those notes into rows of the
``label_joins`` table (:func:`changes`) — inserts, updates and deletes, as many as entries changed — instead of
writing every held prediction into the snapshot. On restore the rows come back in ``seq`` order, which is the order
the joiner took them in, so expiry and eviction continue exactly.

Example:
    >>> from modelpilot.monitoring.performance.labels import LabelJoiner
    >>> j = LabelJoiner(clock=lambda: 0.0).journaled()
    >>> j.add_prediction("r1", "credit", 1, "stable", 0.0, [1])
    >>> ch = changes(j, j.journal.take())
    >>> [(r["kind"], r["data"]["id"]) for r in ch.inserts], [kind for kind, _ in ch.deletes]  # any old row goes
    ([('pending', 'r1')], ['pending'])
    >>> back = LabelJoiner(clock=lambda: 0.0).journaled().load(ch.inserts)
    >>> back.pending
    1
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelpilot.monitoring.performance.labels import LabelJoiner

__all__ = ["KINDS", "Changes", "Journal", "changes", "row_key"]

KINDS = ("pending", "label", "gone")
"""``pending``: predictions waiting for their label; ``label``: labels waiting for (more) predictions; ``gone``:
requests whose predictions were dropped unlabelled (a label for them is ``late``)."""

Key = tuple[str, str]  # (kind, request id)
Mark = tuple[int | None, bool]
"""The position of an entry added since the last take (``None``: a stored entry changed or went), and whether a
stored row may have to go first (the entry went and came back since the last take)."""


def row_key(request_id: str) -> str:
    """The row key of a request id: a fixed-length digest (ids may be long; the row's data holds the id)."""
    return hashlib.blake2b(request_id.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass
class Journal:
    """Entries added (with their position) or changed/dropped since the last :meth:`take`."""

    seq: int = 0
    """The last position handed out: entries are restored in this order."""
    marks: dict[Key, Mark] = field(default_factory=dict)
    """(kind, request id) -> its :data:`Mark`."""

    def added(self, kind: str, request_id: str) -> None:
        """A new entry (it is written with the next position). An entry not marked since the last take has no row
        (a row goes only with a mark), so only one that went and came back needs a delete first."""
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
        """Marks whose rows could not be written: noted again, merged with newer marks of the same entries."""
        for k, (seq, replaces) in marks.items():
            if k not in self.marks:
                self.marks[k] = (seq, replaces)
            else:  # newer: keep its position if it has one, or the unwritten one; a row may exist if either said so
                new_seq, new_replaces = self.marks[k]
                self.marks[k] = (new_seq if new_seq is not None else seq, new_replaces or replaces)


@dataclass
class Changes:
    """Rows to write for a set of marks: ``inserts`` and ``updates`` as row dicts, ``deletes`` as (kind, key)."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.inserts) + len(self.updates) + len(self.deletes)


def changes(joiner: LabelJoiner, marks: Iterable[tuple[Key, Mark]] | Mapping[Key, Mark]) -> Changes:
    """The rows that bring the stored entries up to the joiner's current ones, for ``marks``."""
    out = Changes()
    items = marks.items() if isinstance(marks, Mapping) else marks
    for (kind, rid), (seq, _known) in items:
        data = joiner.entry(kind, rid)
        key = row_key(rid)
        # Gone, or (re)added: any stored row of the request goes first. ``replaces`` says whether this journal knows
        # of one, but a row can also be left by a predecessor whose restore failed, or by a commit that succeeded
        # while reporting an error; deleting first keeps every insert valid then.
        if data is None or seq is not None:
            out.deletes.append((kind, key))
        if data is None:
            continue
        row = {"kind": kind, "key": key, "data": data}
        if seq is not None:
            out.inserts.append({**row, "seq": seq})
        else:
            out.updates.append(row)
    return out
