"""The leader lease: one row in the store with a holder and an expiry. The controller that holds it acts; the
others keep trying and take over when it expires (its holder died or lost the store). Renewing and taking over
happen inside the store's serialised write transaction, so two controllers never both hold it.

Example:
    >>> import tempfile
    >>> from modelpilot.storage import Store
    >>> store = Store(f"sqlite:///{tempfile.mkdtemp()}/doc.db")
    >>> now = [100.0]
    >>> a = Lease(store, holder="a", ttl_s=10, clock=lambda: now[0])
    >>> b = Lease(store, holder="b", ttl_s=10, clock=lambda: now[0])
    >>> a.acquire(), b.acquire()
    (True, False)
    >>> now[0] += 11  # a stopped renewing
    >>> b.acquire(), a.acquire()
    (True, False)
    >>> store.close()
"""

from __future__ import annotations

import os
import socket
import time as _time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from modelpilot.storage import Store
from modelpilot.storage import tables as t

__all__ = ["Lease", "default_holder"]


def default_holder() -> str:
    """``host:pid:random``: unique per process, readable in the store."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """A named lease in the store.

    Parameters
    ----------
    store
        Where the lease row lives (every controller of one deployment shares it).
    name
        The lease's name.
    holder
        Who this process is.
    ttl_s
        How long a renewal holds; renew well within it (the controllers renew every tick).
    """

    def __init__(
        self,
        store: Store,
        *,
        name: str = "control",
        holder: str | None = None,
        ttl_s: float = 10.0,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        self.store = store
        self.name = name
        self.holder = holder or default_holder()
        self.ttl_s = ttl_s
        self.clock = clock
        self.expires_at = 0.0

    def acquire(self) -> bool:
        """Take the lease if it is free or expired, or renew it if held; True when this process holds it."""
        now = self.clock()
        values = {"holder": self.holder, "expires_at": now + self.ttl_s, "renewed_at": datetime.now(UTC)}
        with self.store.write() as conn:
            row = conn.execute(sa.select(t.leases).where(t.leases.c.name == self.name)).first()
            if row is None:
                conn.execute(sa.insert(t.leases).values(name=self.name, **values))
            elif row.holder == self.holder or row.expires_at <= now:
                conn.execute(sa.update(t.leases).where(t.leases.c.name == self.name).values(**values))
            else:
                self.expires_at = 0.0
                return False
        self.expires_at = now + self.ttl_s
        return True

    @property
    def held(self) -> bool:
        """Whether this process held the lease at its last renewal and it has not expired since."""
        return self.clock() < self.expires_at

    def release(self) -> None:
        """Give the lease up now (a clean stop), so another controller takes over at once."""
        with self.store.write() as conn:
            conn.execute(
                sa.update(t.leases)
                .where(t.leases.c.name == self.name)
                .where(t.leases.c.holder == self.holder)
                .values(expires_at=0.0)
            )
        self.expires_at = 0.0

    def who(self) -> tuple[str, float] | None:
        """The current holder and when its lease expires (``None``: never taken)."""
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(t.leases.c.holder, t.leases.c.expires_at).where(t.leases.c.name == self.name)
            ).first()
        return None if row is None else (str(row.holder), float(row.expires_at))
