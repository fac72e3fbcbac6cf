"""Recognising redelivered events in fixed memory: the last ``capacity`` event identities as 64-bit digests.

An at-least-once bus (Kafka, the disk spool) may deliver an event twice; the monitor must count it once. The
filter remembers the identities (model, variant, request id) of the last ``capacity`` events it saw as 8-byte
BLAKE2b digests: memory and snapshot size are fixed by ``capacity`` (8 bytes per identity in the snapshot, however
long the ids are), and each check is one digest and one set lookup. Two different identities share a digest with
probability about n² / 2⁶⁵ (3 in 10¹⁰ for 100,000 held): such an event would be counted as a duplicate.

Example:
    >>> f = IdFilter(capacity=2)
    >>> f.seen("credit", "stable", "r1"), f.seen("credit", "stable", "r1"), f.seen("credit", "canary", "r1")
    (False, True, False)
    >>> f.seen("credit", "stable", "r2"), f.seen("credit", "stable", "r1")  # r1 (stable) was forgotten
    (False, False)
    >>> IdFilter.from_state(f.to_state(), capacity=2).seen("credit", "stable", "r2")
    True
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = ["IdFilter"]


def _digest(model: str, variant: str, request_id: str) -> int:
    raw = f"{model}\x00{variant}\x00{request_id}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "little")


class IdFilter:
    """The last ``capacity`` event identities, oldest forgotten first.

    Parameters
    ----------
    capacity
        Identities remembered (at least 1).
    """

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._ring = np.zeros(capacity, dtype=np.uint64)
        self._held: set[int] = set()
        self._next = 0  # where the next digest goes (the oldest once the ring is full)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def seen(self, model: str, variant: str, request_id: str) -> bool:
        """True when this identity is held (a duplicate); otherwise remember it and return False."""
        d = _digest(model, variant, request_id)
        if d in self._held:
            return True
        self._remember(d)
        return False

    def _remember(self, d: int) -> None:
        if self._count == self.capacity:
            self._held.discard(int(self._ring[self._next]))
        else:
            self._count += 1
        self._ring[self._next] = d
        self._held.add(d)
        self._next = (self._next + 1) % self.capacity

    def _oldest_first(self) -> np.ndarray[Any, np.dtype[np.uint64]]:
        if self._count < self.capacity:
            return self._ring[: self._count]
        return np.concatenate([self._ring[self._next :], self._ring[: self._next]])

    def to_state(self) -> dict[str, Any]:
        """The held digests, oldest first, as base64 of little-endian 8-byte integers."""
        return {"digests": base64.b64encode(self._oldest_first().astype("<u8").tobytes()).decode("ascii")}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], *, capacity: int) -> IdFilter:
        """Rebuild from :meth:`to_state` (the newest ``capacity`` are kept when it held more)."""
        out = cls(capacity)
        digests = np.frombuffer(base64.b64decode(state.get("digests", "")), dtype="<u8")
        for d in digests[-capacity:].tolist():
            if d not in out._held:
                out._remember(d)
        return out

    @classmethod
    def from_identities(cls, identities: Iterable[Iterable[str]], *, capacity: int) -> IdFilter:
        """From (model, variant, request id) triples, oldest first (snapshots of older builds held those)."""
        out = cls(capacity)
        for model, variant, rid in identities:
            out.seen(str(model), str(variant), str(rid))
        return out
