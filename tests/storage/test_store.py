from __future__ import annotations

import importlib.resources
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from modelpilot.errors import StoreError
from modelpilot.storage import HEAD_REVISION, Store, normalise_url
from modelpilot.storage.tables import metadata, models


def test_head_revision_constant_matches_alembic() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(importlib.resources.files("modelpilot.storage") / "migrations"))
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD_REVISION]


def test_migrations_produce_exactly_the_declared_tables(store: Store) -> None:
    assert store.revision() == HEAD_REVISION
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_opening_twice_is_a_no_op(store: Store) -> None:
    again = Store(store.url)
    assert again.revision() == HEAD_REVISION
    again.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(sa.exc.IntegrityError), store.write() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO versions (model_id, version, format, signature, metrics, lineage, trust, "
                "description, created_at, created_by) VALUES (99, 1, 'onnx', '{}', '{}', '{}', '{}', "
                "'', '2026-01-01', 'x')"
            )
        )
    store.close()


def test_write_transactions_roll_back_on_error(store: Store) -> None:
    from datetime import UTC, datetime

    with pytest.raises(RuntimeError), store.write() as conn:
        conn.execute(sa.insert(models).values(name="m", description="", created_at=datetime.now(UTC), created_by="x"))
        raise RuntimeError("boom")
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(models)).scalar_one() == 0


def test_urls_are_normalised_and_bad_ones_refused(tmp_path: Path) -> None:
    assert normalise_url("postgresql://a@b/c") == "postgresql+psycopg://a@b/c"
    with pytest.raises(StoreError, match="not supported"):
        Store("mysql://u@h/db")
    with pytest.raises(StoreError, match="not a database URL"):
        Store("not a url")


def test_unreachable_postgres_is_a_clear_error() -> None:
    from tests.postgres_server import free_port

    with pytest.raises(StoreError, match="cannot open the store") as err:
        Store(f"postgresql://nobody:secret@127.0.0.1:{free_port()}/nothing")
    assert "secret" not in err.value.message
