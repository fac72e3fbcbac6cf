"""The pure core of the audit log: canonical JSON, entry hashes and chain verification (no I/O).

Each entry's hash is the SHA-256 of a canonical JSON object (sorted keys, no spaces, UTF-8) holding its
sequence number, time, actor, action, subject, model, reason, evidence and the previous entry's hash. The first
entry's previous hash is :data:`GENESIS`. Editing any field of any entry, deleting an entry or reordering
entries breaks the chain at the first entry concerned; truncating the tail is caught by comparing the last
entry with the recorded head.

Example:
    >>> from datetime import datetime, UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> a = make_entry(1, GENESIS, t, "ana", "register", "model:credit/v1", "credit", "first", {"digest": "ab"})
    >>> b = make_entry(2, a.hash, t, "ana", "alias.set", "model:credit", "credit", "go", {"version": 1})
    >>> verify_chain([a, b], head=(2, b.hash)).ok
    True
    >>> forged = a.model_copy(update={"reason": "edited"})
    >>> report = verify_chain([forged, b], head=(2, b.hash))
    >>> report.ok, report.first_bad_seq
    (False, 1)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

__all__ = [
    "GENESIS",
    "AuditEntry",
    "VerifyReport",
    "canonical_json",
    "entry_hash",
    "format_time",
    "make_entry",
    "verify_chain",
]

#: The previous-hash of the first entry.
GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """Deterministic JSON text: sorted keys, no whitespace, numpy values as plain numbers.

    >>> canonical_json({"b": 1, "a": [1.5, None]})
    '{"a":[1.5,null],"b":1}'
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


def format_time(t: datetime) -> str:
    """UTC ISO-8601 with microseconds and a ``Z``: fixed width, so text order is time order.

    >>> format_time(datetime(2026, 11, 22, 4, 5, 6, 7, tzinfo=UTC))
    '2026-11-22T04:05:06.000007Z'
    """
    if t.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditEntry(BaseModel):
    """One audit entry. ``evidence`` is the canonical JSON text of the evidence object."""

    model_config = ConfigDict(frozen=True)

    seq: int
    time: datetime
    actor: str
    action: str
    subject: str
    model: str | None
    reason: str
    evidence: str
    prev_hash: str
    hash: str

    @property
    def evidence_obj(self) -> Any:
        """The evidence as a JSON value."""
        return orjson.loads(self.evidence)

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the evidence expanded."""
        return {
            "seq": self.seq,
            "time": format_time(self.time),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "model": self.model,
            "reason": self.reason,
            "evidence": self.evidence_obj,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def entry_hash(
    seq: int,
    prev_hash: str,
    time: datetime,
    actor: str,
    action: str,
    subject: str,
    model: str | None,
    reason: str,
    evidence: str,
) -> str:
    """SHA-256 (hex) of the canonical JSON of an entry's fields."""
    payload = {
        "seq": seq,
        "prev_hash": prev_hash,
        "time": format_time(time),
        "actor": actor,
        "action": action,
        "subject": subject,
        "model": model,
        "reason": reason,
        "evidence": evidence,
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def make_entry(
    seq: int,
    prev_hash: str,
    time: datetime,
    actor: str,
    action: str,
    subject: str,
    model: str | None,
    reason: str,
    evidence: Any,
) -> AuditEntry:
    """Build the next entry of a chain, with its hash."""
    if seq < 1:
        raise ValueError("audit sequence numbers start at 1")
    # Stored times keep microseconds, so hash the time exactly as it will read back.
    time = time.astimezone(UTC)
    text = canonical_json(evidence)
    digest = entry_hash(seq, prev_hash, time, actor, action, subject, model, reason, text)
    return AuditEntry(
        seq=seq,
        time=time,
        actor=actor,
        action=action,
        subject=subject,
        model=model,
        reason=reason,
        evidence=text,
        prev_hash=prev_hash,
        hash=digest,
    )


class VerifyReport(BaseModel):
    """The outcome of a chain verification."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_chain(entries: Iterable[AuditEntry], head: tuple[int, str] | None) -> VerifyReport:
    """Check every link of a chain given in storage order (ascending ``seq``), then the recorded head.

    ``head`` is the ``(seq, hash)`` recorded for the newest entry, or ``None`` for an empty log.
    The report names the first bad entry and what is wrong with it.
    """
    expected_seq, prev, count = 1, GENESIS, 0

    def bad(seq: int, problem: str) -> VerifyReport:
        return VerifyReport(
            ok=False,
            entries=count,
            head_seq=expected_seq - 1,
            head_hash=prev,
            first_bad_seq=seq,
            problem=problem,
        )

    for e in entries:
        if e.seq != expected_seq:
            if e.seq > expected_seq:
                return bad(expected_seq, f"entry {expected_seq} is missing (next stored entry is {e.seq})")
            return bad(e.seq, f"entry {e.seq} is out of order (expected {expected_seq})")
        if e.prev_hash != prev:
            return bad(e.seq, f"entry {e.seq} does not link to entry {e.seq - 1} (previous hash differs)")
        recomputed = entry_hash(e.seq, e.prev_hash, e.time, e.actor, e.action, e.subject, e.model, e.reason, e.evidence)
        if recomputed != e.hash:
            return bad(e.seq, f"entry {e.seq} was altered (its content does not match its hash)")
        prev, expected_seq, count = e.hash, expected_seq + 1, count + 1
    last = expected_seq - 1
    if head is None:
        if last:
            return bad(last, "the log has entries but no recorded head")
    elif head != (last, prev):
        if head[0] > last:
            return bad(last + 1, f"entries {last + 1}..{head[0]} are missing from the end of the log")
        return bad(last, f"the recorded head (entry {head[0]}) does not match the last entry {last}")
    return VerifyReport(ok=True, entries=count, head_seq=last, head_hash=prev)
