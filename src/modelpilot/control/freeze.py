"""Freezes: a remediation policy's hold on a model's rollouts, kept as a named lease row (``freeze:<model>``) with
an expiry, so every controller and CLI sees it.

Example:
    >>> import tempfile
    >>> from modelpilot.config import load_settings
    >>> from modelpilot.registry import Registry
    >>> reg = Registry.open(load_settings(home=tempfile.mkdtemp()))
    >>> frozen(reg, "credit") is None, unfreeze(reg, "credit", actor="me", reason="none")
    (True, False)
    >>> reg.store.close()
"""

from __future__ import annotations

import time as _time

import sqlalchemy as sa

from modelpilot.registry import Registry
from modelpilot.storage import tables as t

__all__ = ["frozen", "unfreeze"]


def frozen(registry: Registry, model: str, *, now: float | None = None) -> str | None:
    """Why rollouts of ``model`` are frozen now, or ``None``."""
    at = _time.time() if now is None else now
    with registry.store.read() as conn:
        row = conn.execute(sa.select(t.leases).where(t.leases.c.name == f"freeze:{model}")).first()
    if row is None or row.expires_at <= at:
        return None
    return str(row.holder)


def unfreeze(registry: Registry, model: str, *, actor: str, reason: str) -> bool:
    """Lift a freeze of ``model``'s rollouts (audited); False when there was none."""
    from modelpilot.audit import AuditLog

    with registry.store.write() as conn:
        gone = conn.execute(sa.delete(t.leases).where(t.leases.c.name == f"freeze:{model}")).rowcount
        if gone:
            AuditLog(registry.store).append(
                conn, actor=actor, action="rollout.unfreeze", subject=f"model:{model}", model=model, reason=reason,
                evidence={},
            )  # fmt: skip
    return bool(gone)
