"""The database handle: engine set-up for SQLite and PostgreSQL, transactions, and automatic migrations.

SQLite runs in WAL mode with foreign keys on and a 30 s busy timeout. PostgreSQL goes through psycopg 3.
Writes that must be serialised across processes (every audited state change, so that audit entries chain in
order and version numbers stay consecutive) use :meth:`Store.write`: ``BEGIN IMMEDIATE`` on SQLite, a
transaction-scoped advisory lock on PostgreSQL. Control-plane writes are rare, so one writer at a time costs
nothing that matters and makes the invariants easy to reason about.

Example:
    >>> import tempfile, sqlalchemy as sa
    >>> from modelpilot.storage import tables
    >>> store = Store(f"sqlite:///{tempfile.mkdtemp()}/mp.db")
    >>> with store.read() as conn:
    ...     conn.execute(sa.select(sa.func.count()).select_from(tables.models)).scalar_one()
    0
    >>> store.close()
"""

from __future__ import annotations

import importlib.resources
import json
import math
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError

from modelpilot.errors import StoreError

__all__ = ["HEAD_REVISION", "Store", "normalise_url"]

#: The newest migration this build knows; a test checks it equals Alembic's head.
HEAD_REVISION = "0007"

# Key of the PostgreSQL advisory lock that serialises audited writes ("modelpilot" as a 63-bit number).
_WRITE_LOCK_KEY = 0x6D6F64656C70


def normalise_url(url: str) -> str:
    """Map the URLs users type to the drivers modelpilot uses.

    >>> normalise_url("postgresql://u@localhost/mp")
    'postgresql+psycopg://u@localhost/mp'
    >>> normalise_url("postgres://u@localhost/mp")
    'postgresql+psycopg://u@localhost/mp'
    >>> normalise_url("sqlite:///x.db")
    'sqlite:///x.db'
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class Store:
    """A migrated database, ready for use.

    Parameters
    ----------
    url
        ``sqlite:///path/to.db`` or ``postgresql://user:pass@host:port/db``.
    migrate
        Apply pending migrations on first use (default). Safe when many processes start at once.
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = normalise_url(url)
        try:
            parsed = make_url(self.url)
        except ArgumentError as exc:
            raise StoreError(
                f"store URL {url!r} is not a database URL",
                hint="use sqlite:///FILE or postgresql://user@host/db",
            ) from exc
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise StoreError(
                f"store dialect {self.dialect!r} is not supported",
                hint="use sqlite:///FILE or postgresql://user@host/db",
            )
        self.engine = self._create_engine(parsed.database)
        if migrate:
            self.migrate()

    # ----------------------------------------------------------------------------------------------- set-up
    def _create_engine(self, database: str | None) -> Engine:
        if self.dialect == "sqlite":
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(
                self.url, connect_args={"timeout": 30.0}, json_serializer=json_dumps, json_deserializer=json_loads
            )

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
                cur = dbapi_conn.cursor()
                _enable_wal(cur)
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

            @event.listens_for(engine, "begin")
            def _on_begin(conn: Connection) -> None:
                immediate = conn.get_execution_options().get("modelpilot_write", False)
                conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

            return engine
        return sa.create_engine(self.url, pool_pre_ping=True, json_serializer=json_dumps, json_deserializer=json_loads)

    def migrate(self) -> None:
        """Bring the schema to :data:`HEAD_REVISION` (no-op when it is there already)."""
        try:
            if self.revision() == HEAD_REVISION:
                return
            from alembic import command
            from alembic.config import Config

            script_location = importlib.resources.files("modelpilot.storage") / "migrations"
            with self.write() as conn:
                current = self._revision(conn)
                if current == HEAD_REVISION:
                    return
                cfg = Config()
                cfg.set_main_option("script_location", str(script_location))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except OperationalError as exc:
            raise StoreError(
                f"cannot open the store at {self.safe_url}: {exc.orig}",
                hint="check --store / MODELPILOT_STORE and that the database is running",
            ) from exc
        current = self.revision()
        if current != HEAD_REVISION:
            raise StoreError(
                f"store is at schema revision {current!r}, this build expects {HEAD_REVISION!r}",
                hint="upgrade modelpilot to a build that knows this schema",
            )

    @staticmethod
    def _revision(conn: Connection) -> str | None:
        try:
            with conn.begin_nested():
                row = conn.execute(sa.text("SELECT version_num FROM alembic_version")).first()
        except (OperationalError, ProgrammingError):
            return None
        return None if row is None else str(row[0])

    def revision(self) -> str | None:
        """The schema revision the database is at, or ``None`` before the first migration."""
        with self.read() as conn:
            return self._revision(conn)

    @property
    def safe_url(self) -> str:
        """The URL with any password masked, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    # -------------------------------------------------------------------------------------------- sessions
    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction for reading (and unserialised writes)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction serialised against every other :meth:`write`, in any process."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(modelpilot_write=True)
            with conn.begin():
                if self.dialect == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _WRITE_LOCK_KEY})
                yield conn

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _enable_wal(cur: Any, *, wait_s: float = 30.0) -> None:
    """Put a SQLite database in WAL mode, waiting out other processes that hold it.

    The mode is stored in the file, so once one process has set it the others only read it. Switching
    needs an exclusive lock and SQLite does not always run the busy handler for it: when processes open
    a new database at the same moment, all but one get "database is locked" at once. Retry until
    ``wait_s`` has passed, as the busy timeout would.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            mode = cur.execute("PRAGMA journal_mode").fetchall()[0][0]
            if str(mode).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def json_dumps(value: Any) -> str:
    """JSON columns are written with orjson (the stdlib encoder was ~9% of a monitor worker's profile).

    NaN and infinities become ``null`` (PostgreSQL refuses the ``NaN`` the stdlib writes, so both dialects now
    store the same); an integer beyond 64 bits, which orjson refuses, falls back to the stdlib.

    Example:
        >>> json_dumps({"a": float("nan"), 1: [1.5, None]})
        '{"a":null,"1":[1.5,null]}'
    """
    try:
        return orjson.dumps(value, option=_JSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(_finite(value), default=str)


def _finite(value: Any) -> Any:
    """Non-finite floats as ``None``, as orjson writes them (for the stdlib fallback)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist"):  # numpy values and arrays
        return _finite(value.tolist())
    return value


def json_loads(text: str | bytes) -> Any:
    """Read a JSON column; rows written before orjson may hold ``NaN`` literals, which the stdlib reads."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
