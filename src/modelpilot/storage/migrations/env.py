"""Alembic environment: runs on the connection the Store hands over (inside its write lock)."""

from __future__ import annotations

from alembic import context

from modelpilot.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - modelpilot always passes its own connection
    raise RuntimeError("modelpilot migrations run through modelpilot.storage.Store.migrate()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
