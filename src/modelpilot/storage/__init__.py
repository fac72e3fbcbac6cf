"""Storage: SQLAlchemy Core tables, the :class:`Store` handle, and Alembic migrations applied on first use."""

from __future__ import annotations

from modelpilot.storage import tables
from modelpilot.storage.store import HEAD_REVISION, Store, normalise_url

__all__ = ["HEAD_REVISION", "Store", "normalise_url", "tables"]
