"""Shared fixtures: settings in a temp home, stores on SQLite and on a real PostgreSQL server, model files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelpilot.config import Settings, load_settings
from modelpilot.registry import Registry
from modelpilot.storage import Store
from tests.postgres_server import PostgresServer, find_pg_bin, start_postgres

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing_component(what: str) -> None:
    """Skip locally, fail under CI=true: a missing component is never a silent pass in CI."""
    if IN_CI:
        pytest.fail(f"{what} is missing under CI=true; `make test` installs it", pytrace=False)
    pytest.skip(f"{what} is missing (make test installs it)")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    if find_pg_bin() is None:
        missing_component("PostgreSQL (Debian package postgresql)")
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store on each dialect."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'modelpilot.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


@pytest.fixture
def settings(tmp_path: Path, store_url: str) -> Settings:
    return load_settings(home=tmp_path / "home", store=store_url, actor="tester")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store(settings.store_url)
    yield s
    s.close()


@pytest.fixture
def registry(settings: Settings) -> Iterator[Registry]:
    reg = Registry.open(settings)
    yield reg
    reg.store.close()
