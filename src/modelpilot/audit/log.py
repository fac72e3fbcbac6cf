"""The audit log on the store: append inside the caller's write transaction, query, and verify.

Every state change in modelpilot calls :meth:`AuditLog.append` in the same transaction as the change itself, so a
change is never stored without its entry, nor an entry without its change. Appends must run inside
:meth:`modelpilot.storage.Store.write`, which serialises them so the chain stays linear across processes.

Action names in use: ``model.create``, ``version.register``, ``alias.set``, ``alias.unset``, ``promote``,
``promote.refused``, ``trust.pickle``, ``trust.code``, ``trust.types``, ``token.create``, ``token.revoke``.

Example:
    >>> import tempfile
    >>> from modelpilot.storage import Store
    >>> store = Store(f"sqlite:///{tempfile.mkdtemp()}/mp.db")
    >>> log = AuditLog(store)
    >>> with store.write() as conn:
    ...     entry = log.append(conn, actor="ana", action="alias.set", subject="model:credit",
    ...                        model="credit", reason="doc", evidence={"version": 1})
    >>> entry.seq, log.verify().ok
    (1, True)
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelpilot.audit.chain import GENESIS, AuditEntry, VerifyReport, make_entry, verify_chain
from modelpilot.storage import Store
from modelpilot.storage.tables import audit_head, audit_log

__all__ = ["AuditLog"]

_HEAD_ID = 1


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AuditLog:
    """Append-only, hash-chained log of changes and decisions.

    Parameters
    ----------
    store
        The store that holds the log.
    clock
        Returns the current UTC time; injected for tests.
    """

    def __init__(self, store: Store, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.store = store
        self.clock = clock

    def append(
        self,
        conn: Connection,
        *,
        actor: str,
        action: str,
        subject: str,
        reason: str,
        evidence: Any,
        model: str | None = None,
    ) -> AuditEntry:
        """Add one entry at the head of the chain (call inside ``store.write()``)."""
        head = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == _HEAD_ID)).first()
        seq, prev = (1, GENESIS) if head is None else (int(head.seq) + 1, str(head.hash))
        entry = make_entry(seq, prev, self.clock(), actor, action, subject, model, reason, evidence)
        conn.execute(sa.insert(audit_log).values(**entry.model_dump()))
        if head is None:
            conn.execute(sa.insert(audit_head).values(id=_HEAD_ID, seq=entry.seq, hash=entry.hash))
        else:
            conn.execute(
                sa.update(audit_head).where(audit_head.c.id == _HEAD_ID).values(seq=entry.seq, hash=entry.hash)
            )
        return entry

    def entries(
        self,
        *,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries in chain order, filtered; ``limit`` keeps the newest ``limit`` of them."""
        q = sa.select(audit_log)
        if model is not None:
            q = q.where(audit_log.c.model == model)
        if since is not None:
            q = q.where(audit_log.c.time >= since)
        if until is not None:
            q = q.where(audit_log.c.time <= until)
        if action is not None:
            q = q.where(audit_log.c.action == action)
        q = q.order_by(audit_log.c.seq.desc()).limit(limit) if limit is not None else q.order_by(audit_log.c.seq)
        with self.store.read() as conn:
            rows = [AuditEntry.model_validate(r._asdict()) for r in conn.execute(q)]
        return sorted(rows, key=lambda e: e.seq) if limit is not None else rows

    def _iter_all(self, conn: Connection) -> Generator[AuditEntry, None, None]:
        result = conn.execution_options(yield_per=2000).execute(sa.select(audit_log).order_by(audit_log.c.seq))
        try:
            for row in result:
                yield AuditEntry.model_validate(row._asdict())
        finally:  # verification may stop at the first bad entry: release the server-side cursor
            result.close()

    def verify(self) -> VerifyReport:
        """Verify the whole chain and its recorded head (streams the log; memory stays flat)."""
        with self.store.read() as conn:
            head = conn.execute(
                sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == _HEAD_ID)
            ).first()
            rows = self._iter_all(conn)
            try:
                return verify_chain(rows, None if head is None else (int(head.seq), str(head.hash)))
            finally:
                rows.close()
