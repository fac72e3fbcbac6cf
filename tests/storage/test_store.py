from __future__ import annotations

import importlib.resources
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from modelpilot.errors import StoreError
from modelpilot.storage import HEAD_REVISION, Store, normalise_url
from modelpilot.storage.store import _enable_wal, json_dumps, json_loads
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


def test_many_stores_opening_a_new_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    """Switching a new file to WAL can fail at once with "database is locked" (no busy wait) when
    several connections try together; seen in CI as a process dying on first use. Each round races
    six connections on a fresh file; without the retry about one round in seven failed here."""
    for round_ in range(40):
        path = tmp_path / f"race{round_}.db"
        barrier = threading.Barrier(6)
        errors: list[str] = []

        def open_one(path: Path = path, barrier: threading.Barrier = barrier, errors: list[str] = errors) -> None:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            barrier.wait()
            try:
                cur = conn.cursor()
                _enable_wal(cur)
                cur.close()
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("CREATE TABLE IF NOT EXISTS t (i INTEGER)")
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                errors.append(str(exc))
            finally:
                conn.close()

        threads = [threading.Thread(target=open_one) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [], (round_, errors)
        with sqlite3.connect(path) as check:
            assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_json_columns_are_written_with_orjson_and_nan_is_stored_as_null_on_both_dialects(store: Store) -> None:
    import datetime as dt

    import numpy as np

    from modelpilot.storage.tables import monitor_state

    state = {"x": float("nan"), "inf": float("inf"), "n": np.float64(1.5), 3: "int key", "big": 2**70}
    with store.write() as conn:
        conn.execute(sa.insert(monitor_state).values(name="t", state=state, updated_at=dt.datetime.now(dt.UTC)))
    with store.read() as conn:
        back = conn.execute(sa.select(monitor_state.c.state)).scalar_one()
    # PostgreSQL refuses NaN in JSON: non-finite numbers are stored as null on both dialects, also when an integer
    # beyond 64 bits (which orjson refuses) sends the document through the stdlib
    assert back == {"x": None, "inf": None, "n": 1.5, "3": "int key", "big": 2**70}
    assert json_dumps({"x": float("nan")}) == '{"x":null}'


def test_json_columns_read_rows_written_before_orjson() -> None:
    assert json_loads('{"a": NaN}')["a"] != json_loads('{"a": NaN}')["a"]  # the stdlib's NaN literal still reads
    assert json_loads(json_dumps({"a": float("nan"), "b": np.arange(2)})) == {"a": None, "b": [0, 1]}
