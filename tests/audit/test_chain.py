from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from modelpilot.audit.chain import GENESIS, AuditEntry, canonical_json, make_entry, verify_chain

T0 = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def chain(n: int) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    prev = GENESIS
    for i in range(1, n + 1):
        e = make_entry(
            i,
            prev,
            T0 + timedelta(seconds=i),
            "ana",
            "alias.set",
            f"model:m/{i}",
            "m",
            f"r{i}",
            {"i": i, "nested": {"b": [1, 2.5], "a": None}},
        )
        out.append(e)
        prev = e.hash
    return out


def test_intact_chain_verifies() -> None:
    entries = chain(5)
    report = verify_chain(entries, head=(5, entries[-1].hash))
    assert report.ok and report.entries == 5 and report.head_hash == entries[-1].hash


def test_empty_log_verifies() -> None:
    assert verify_chain([], head=None).ok


def test_canonical_json_ignores_key_order() -> None:
    assert canonical_json({"b": 1, "a": {"d": 2, "c": 3}}) == canonical_json({"a": {"c": 3, "d": 2}, "b": 1})


@given(
    st.integers(min_value=0, max_value=5),
    st.sampled_from(["actor", "action", "subject", "reason", "evidence", "model", "time"]),
)
def test_any_edit_is_caught_at_the_edited_entry(index: int, field: str) -> None:
    entries = chain(6)
    e = entries[index]
    change = {"time": e.time + timedelta(microseconds=1), "evidence": '{"i":999}'}.get(field, "forged")
    entries[index] = e.model_copy(update={field: change})
    report = verify_chain(entries, head=(6, entries[-1].hash))
    assert not report.ok
    assert report.first_bad_seq == index + 1
    assert "altered" in (report.problem or "")


def test_deleted_middle_entry_is_named() -> None:
    entries = chain(5)
    del entries[2]
    report = verify_chain(entries, head=(5, entries[-1].hash))
    assert not report.ok and report.first_bad_seq == 3 and "missing" in (report.problem or "")


def test_reordered_entries_are_caught() -> None:
    entries = chain(5)
    entries[1], entries[2] = entries[2], entries[1]
    report = verify_chain(entries, head=(5, entries[-1].hash))
    assert not report.ok and report.first_bad_seq == 2


def test_truncated_tail_is_caught_by_the_head() -> None:
    entries = chain(5)
    report = verify_chain(entries[:3], head=(5, entries[-1].hash))
    assert not report.ok and report.first_bad_seq == 4 and "end of the log" in (report.problem or "")


def test_rehashed_forgery_breaks_the_next_link() -> None:
    entries = chain(4)
    e = entries[1]
    forged = make_entry(
        e.seq, e.prev_hash, e.time, e.actor, e.action, e.subject, e.model, "forged reason", e.evidence_obj
    )
    entries[1] = forged
    report = verify_chain(entries, head=(4, entries[-1].hash))
    assert not report.ok and report.first_bad_seq == 3 and "does not link" in (report.problem or "")
