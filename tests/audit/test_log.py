"""Tamper tests against a real store: edit, delete or reorder rows with SQL, and `audit verify` names the row."""

from __future__ import annotations

import itertools

import sqlalchemy as sa

from modelpilot.audit import AuditLog
from modelpilot.cli.app import main
from modelpilot.config import Settings
from modelpilot.storage import Store
from modelpilot.storage.tables import audit_log


def fill(store: Store, n: int) -> AuditLog:
    log = AuditLog(store)
    for i in range(n):
        with store.write() as conn:
            log.append(
                conn,
                actor="ana",
                action="alias.set",
                subject=f"model:m/alias:a{i}",
                model="m",
                reason=f"move {i}",
                evidence={"version": i, "score": 0.1 * i},
            )
    return log


def cli_verify(settings: Settings) -> int:
    return main(["--home", str(settings.home), "--store", settings.store_url, "audit", "verify"])


def test_append_links_entries_and_verifies(settings: Settings, store: Store) -> None:
    log = fill(store, 4)
    entries = log.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert log.verify().ok
    assert [e.seq for e in log.entries(limit=2)] == [3, 4]


def test_edited_row_fails_verify_naming_it(settings: Settings, store: Store) -> None:
    fill(store, 5)
    with store.write() as conn:
        conn.execute(sa.update(audit_log).where(audit_log.c.seq == 3).values(reason="nothing to see"))
    report = AuditLog(store).verify()
    assert not report.ok and report.first_bad_seq == 3
    assert cli_verify(settings) == 1


def test_edited_evidence_fails_verify(settings: Settings, store: Store) -> None:
    fill(store, 3)
    with store.write() as conn:
        conn.execute(sa.update(audit_log).where(audit_log.c.seq == 2).values(evidence='{"score":0.1,"version":7}'))
    report = AuditLog(store).verify()
    assert not report.ok and report.first_bad_seq == 2


def test_deleted_row_fails_verify_naming_it(settings: Settings, store: Store) -> None:
    fill(store, 5)
    with store.write() as conn:
        conn.execute(sa.delete(audit_log).where(audit_log.c.seq == 2))
    report = AuditLog(store).verify()
    assert not report.ok and report.first_bad_seq == 2 and "missing" in (report.problem or "")
    assert cli_verify(settings) == 1


def test_deleted_last_row_fails_verify(settings: Settings, store: Store) -> None:
    fill(store, 4)
    with store.write() as conn:
        conn.execute(sa.delete(audit_log).where(audit_log.c.seq == 4))
    report = AuditLog(store).verify()
    assert not report.ok and report.first_bad_seq == 4


def test_reordered_rows_fail_verify(settings: Settings, store: Store) -> None:
    fill(store, 5)
    with store.write() as conn:  # swap the sequence numbers of rows 2 and 4
        conn.execute(sa.update(audit_log).where(audit_log.c.seq == 2).values(seq=-2))
        conn.execute(sa.update(audit_log).where(audit_log.c.seq == 4).values(seq=2))
        conn.execute(sa.update(audit_log).where(audit_log.c.seq == -2).values(seq=4))
    report = AuditLog(store).verify()
    assert not report.ok and report.first_bad_seq == 2


def test_intact_log_cli_exits_zero(settings: Settings, store: Store) -> None:
    fill(store, 3)
    assert cli_verify(settings) == 0
