"""The on-disk spool on real files: order across segments, the byte bound (drops counted and logged), restart,
torn and corrupt segments, release, concurrent appends, records bigger than a segment, and the record framing."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from modelpilot.errors import ConflictError, InvalidInputError
from modelpilot.events.spool import MAGIC, Batch, Record, Spool, frame, parse


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def dropped(reason: str) -> float:
    return sample("modelpilot_events_dropped_total", reason=reason)


def record(i: int, size: int = 40) -> Record:
    return (f"topic-{i % 3}", f"model-{i % 5}".encode(), str(i).encode().ljust(size, b"."))


def drain(spool: Spool) -> list[Record]:
    out: list[Record] = []
    while (batch := spool.oldest()) is not None:
        out.extend(batch.records)
        spool.release(batch)
    return out


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.spool"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("fsync", ["always", "segment", "never"])
def test_order_is_kept_across_many_segments(tmp_path: Path, fsync: str) -> None:
    records = [record(i) for i in range(500)]
    with Spool(tmp_path, segment_bytes=1024, fsync=fsync) as spool:  # type: ignore[arg-type]
        for start in range(0, 500, 7):
            assert spool.append(records[start : start + 7]) == len(records[start : start + 7])
        assert spool.pending == 500
        files = segment_files(tmp_path)
        assert len(files) > 10 and all(len(f.stem) == 20 and f.stem.isdigit() for f in files)
        assert spool.bytes == sum(f.stat().st_size for f in files)
        assert drain(spool) == records
        assert spool.pending == 0 and spool.bytes == 0 and segment_files(tmp_path) == []


def test_records_over_max_bytes_are_dropped_counted_and_logged_once_a_second(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    before = dropped("spool_full")
    one = len(frame(record(0)))
    with Spool(tmp_path, max_bytes=len(MAGIC) + 10 * one, segment_bytes=1 << 20, clock=clock) as spool:
        with caplog.at_level(logging.ERROR, logger="modelpilot.events.spool"):
            assert spool.append([record(i) for i in range(8)]) == 8
            assert spool.append([record(i) for i in range(8, 12)]) == 2
            assert spool.append([record(12)]) == 0
            assert spool.pending == 10 and spool.bytes == len(MAGIC) + 10 * one
            assert dropped("spool_full") - before == 3
            assert spool.dropped == {"spool_full": 3}
            full_logs = [r for r in caplog.records if "spool_full" in r.getMessage()]
            assert len(full_logs) == 1 and "2 events dropped so far" in full_logs[0].getMessage()
            clock.now += 1.0
            assert spool.append([record(13), record(14)]) == 0
            full_logs = [r for r in caplog.records if "spool_full" in r.getMessage()]
            assert len(full_logs) == 2 and "5 events dropped so far" in full_logs[1].getMessage()
        # room again once a batch is released
        batch = spool.oldest()
        assert batch is not None
        spool.release(batch)
        assert spool.append([record(15)]) == 1
        assert drain(spool) == [record(15)]
    assert dropped("spool_full") - before == 5


def test_a_restarted_spool_resumes_where_the_last_one_stopped(tmp_path: Path) -> None:
    first = [record(i) for i in range(100)]
    spool = Spool(tmp_path, segment_bytes=1024)
    spool.append(first)
    pending, size, segments = spool.pending, spool.bytes, spool.segments
    spool.close()
    assert spool.append([record(999)]) == 0  # closed: dropped and counted, never silent
    assert spool.dropped["spool_closed"] == 1

    with Spool(tmp_path, segment_bytes=1024) as again:
        assert (again.pending, again.bytes, again.segments) == (pending, size, segments)
        again.append([record(100)])
        assert again.segments[-1] > segments[-1]  # numbering continues in a new segment
        assert drain(again) == [*first, record(100)]


def test_one_directory_takes_one_spool(tmp_path: Path) -> None:
    with Spool(tmp_path), pytest.raises(ConflictError, match="in use"):
        Spool(tmp_path)
    Spool(tmp_path).close()  # free again after close


def test_a_torn_tail_is_cut_and_the_good_records_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    records = [record(i) for i in range(10)]
    with Spool(tmp_path) as spool:
        spool.append(records)
    (segment,) = segment_files(tmp_path)
    full = segment.stat().st_size
    with segment.open("r+b") as f:  # a crash in the middle of writing the last record
        f.truncate(full - 5)
    before = dropped("spool_corrupt")
    with caplog.at_level(logging.ERROR, logger="modelpilot.events.spool"), Spool(tmp_path) as spool:
        assert spool.pending == 9
        assert segment.stat().st_size == full - len(frame(records[9])) == spool.bytes
        assert dropped("spool_corrupt") - before == 1
        assert any("torn or corrupt" in r.getMessage() for r in caplog.records)
        assert drain(spool) == records[:9]


def test_a_corrupt_segment_returns_the_records_before_the_damage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = [record(i) for i in range(20)]
    one = len(frame(records[0]))
    before = dropped("spool_corrupt")
    with Spool(tmp_path, segment_bytes=len(MAGIC) + 10 * one) as spool:
        spool.append(records)
        oldest = segment_files(tmp_path)[0]
        data = bytearray(oldest.read_bytes())
        data[len(MAGIC) + 6 * one + 20] ^= 0xFF  # a bad byte inside the 7th record
        oldest.write_bytes(bytes(data))
        with caplog.at_level(logging.ERROR, logger="modelpilot.events.spool"):
            batch = spool.oldest()
        assert batch is not None and batch.records == records[:6]
        assert dropped("spool_corrupt") - before == 4
        assert spool.pending == 16
        assert any("corrupt" in r.getMessage() for r in caplog.records)
        spool.release(batch)
        assert drain(spool) == records[10:]


def test_release_deletes_the_segment_and_updates_counts_and_metrics(tmp_path: Path) -> None:
    events, size = sample("modelpilot_spool_events"), sample("modelpilot_spool_bytes")
    written, replayed = sample("modelpilot_spool_written_total"), sample("modelpilot_spool_replayed_total")
    records = [record(i) for i in range(30)]
    one = len(frame(records[0]))
    with Spool(tmp_path, segment_bytes=len(MAGIC) + 10 * one) as spool:
        spool.append(records)
        assert len(segment_files(tmp_path)) == 3
        assert sample("modelpilot_spool_events") - events == 30
        assert sample("modelpilot_spool_bytes") - size == spool.bytes == 3 * (len(MAGIC) + 10 * one)
        assert sample("modelpilot_spool_written_total") - written == 30

        batch = spool.oldest()
        assert batch is not None and batch.records == records[:10]
        assert spool.oldest() is batch  # the same batch until it is released
        spool.release(batch)
        assert len(segment_files(tmp_path)) == 2 and not (tmp_path / f"{batch.segment:020d}.spool").exists()
        assert spool.pending == 20 and spool.bytes == 2 * (len(MAGIC) + 10 * one)
        assert sample("modelpilot_spool_events") - events == 20
        assert sample("modelpilot_spool_replayed_total") - replayed == 10
        spool.release(batch)  # twice: nothing more happens
        assert spool.pending == 20 and sample("modelpilot_spool_replayed_total") - replayed == 10
    assert sample("modelpilot_spool_events") == events  # a closed spool no longer counts in this process
    assert sample("modelpilot_spool_bytes") == size


def test_reading_the_segment_being_written_seals_it(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append([record(0), record(1)])
        batch = spool.oldest()
        assert batch is not None and batch.records == [record(0), record(1)]
        spool.append([record(2)])
        assert len(spool.segments) == 2
        assert spool.oldest() == Batch(batch.segment, [record(0), record(1)])  # the batch did not change
        spool.release(batch)
        assert drain(spool) == [record(2)]
        assert spool.oldest() is None


def test_concurrent_appends_and_replay_lose_nothing(tmp_path: Path) -> None:
    threads, per_thread = 8, 300
    got: list[Record] = []
    done = threading.Event()

    with Spool(tmp_path, segment_bytes=4096) as spool:

        def produce(t: int) -> None:
            for i in range(0, per_thread, 3):
                spool.append([(f"t{t}", str(t).encode(), str(j).encode()) for j in range(i, i + 3)])

        def replay() -> None:
            while not done.is_set() or spool.pending:
                batch = spool.oldest()
                if batch is None:
                    done.wait(0.001)
                    continue
                got.extend(batch.records)
                spool.release(batch)

        workers = [threading.Thread(target=produce, args=(t,)) for t in range(threads)]
        replayer = threading.Thread(target=replay)
        replayer.start()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        done.set()
        replayer.join(30)
        assert not replayer.is_alive()
        assert spool.pending == 0 and spool.bytes == 0

    assert len(got) == threads * per_thread
    for t in range(threads):
        assert [int(v) for topic, _, v in got if topic == f"t{t}"] == list(range(per_thread))  # each writer's order


def test_a_record_bigger_than_a_segment_gets_its_own(tmp_path: Path) -> None:
    big = ("modelpilot.inference", b"credit", b"x" * 5000)
    with Spool(tmp_path, max_bytes=20_000, segment_bytes=1024) as spool:
        assert spool.append([record(0), big, record(1)]) == 3
        assert len(spool.segments) == 3
        assert spool.append([("t", b"k", b"y" * 20_000)]) == 0  # over max_bytes: dropped
        assert spool.dropped == {"spool_full": 1}
        assert drain(spool) == [record(0), big, record(1)]


def test_leftovers_from_a_crash_at_segment_creation_and_foreign_files(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append([record(0)])
    (tmp_path / f"{7:020d}.spool").write_bytes(MAGIC[:3])  # torn while being created
    foreign = tmp_path / f"{8:020d}.spool"
    foreign.write_bytes(b"something else")
    (tmp_path / "notes.txt").write_text("kept")
    with Spool(tmp_path) as spool:
        assert spool.pending == 1 and spool.segments == [0]
        assert not (tmp_path / f"{7:020d}.spool").exists() and foreign.exists()
        spool.append([record(1)])
        assert spool.segments == [0, 9]
        assert drain(spool) == [record(0), record(1)]
    assert foreign.exists() and (tmp_path / "notes.txt").exists()


def test_bad_parameters_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="max_bytes"):
        Spool(tmp_path, max_bytes=0)
    with pytest.raises(InvalidInputError, match="segment_bytes"):
        Spool(tmp_path, segment_bytes=4)
    with pytest.raises(InvalidInputError, match="fsync"):
        Spool(tmp_path, fsync="sometimes")  # type: ignore[arg-type]
    with Spool(tmp_path) as spool, pytest.raises(InvalidInputError, match="too large"):
        spool.append([("t" * 70_000, b"", b"")])


records_strategy = st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=50), st.binary(max_size=200)))


@settings(max_examples=200, deadline=None)
@given(records=records_strategy, cut=st.integers(min_value=0))
def test_framing_round_trips_and_a_cut_keeps_a_prefix(records: list[Record], cut: int) -> None:
    data = MAGIC + b"".join(frame(r) for r in records)
    assert parse(data) == (records, len(data))
    cut = len(MAGIC) + cut % (len(data) - len(MAGIC) + 1)
    got, end = parse(data[:cut])
    assert got == records[: len(got)]
    assert end == len(MAGIC) + sum(len(frame(r)) for r in got) <= cut
