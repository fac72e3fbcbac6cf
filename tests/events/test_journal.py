"""The event journal: its codec, its cut at a mark, its replay by the next process, and its own metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelpilot.events.journal import EventJournal, decode_batch, encode_batch
from modelpilot.events.model import AlarmEvent, Event, InferenceEvent, LabelEvent
from modelpilot.events.spool import Spool
from modelpilot.telemetry import metrics


def _event(i: int, rows: int = 2) -> InferenceEvent:
    return InferenceEvent(
        request_id=f"r{i}", time=100.0 + i, model="credit", version=2, variant="canary",
        features={"income": np.array([1.5, np.nan][:rows]), "age": np.arange(rows, dtype=np.int32),
                  "region": np.array(["north", None][:rows], dtype=object)},
        prediction=np.array([1, 0][:rows]), probabilities=np.array([[0.2, 0.8], [0.9, 0.1]][:rows]),
        classes=(0, 1), latency_s=0.004, status=200, protocol="v1",
    )  # fmt: skip


def test_a_batch_reads_back_as_the_events_it_holds() -> None:
    batch: list[Event] = [
        _event(0), LabelEvent("r0", [1, 0], 5.0, "credit"), AlarmEvent({"kind": "drift"}, 1.0), _event(1, 1),
    ]  # fmt: skip
    back = decode_batch(encode_batch(batch))
    assert len(back) == 3  # alarms are not the monitor's input: not journaled
    first, label, last = back
    assert isinstance(first, InferenceEvent) and isinstance(label, LabelEvent) and isinstance(last, InferenceEvent)
    assert (first.request_id, first.time, first.model, first.version, first.variant) == ("r0", 100.0, "credit", 2,
                                                                                         "canary")  # fmt: skip
    assert first.features["income"][0] == 1.5 and np.isnan(first.features["income"][1])
    assert first.features["age"].tolist() == [0, 1] and first.features["region"].tolist() == ["north", None]
    assert first.prediction is not None and first.prediction.tolist() == [1, 0]
    assert first.probabilities is not None and first.probabilities.tolist() == [[0.2, 0.8], [0.9, 0.1]]
    assert (first.classes, first.latency_s, first.status, first.protocol) == ((0, 1), 0.004, 200, "v1")
    assert (label.request_id, label.label, label.time, label.model) == ("r0", [1, 0], 5.0, "credit")
    assert last.rows == 1


def test_the_next_process_replays_only_what_no_mark_released(tmp_path: Path) -> None:
    bytes_before = metrics.JOURNAL_BYTES._value.get()
    spool_before = metrics.SPOOL_EVENTS._value.get()
    journal = EventJournal(Spool(tmp_path, fsync="never", journal=True))
    assert journal.write([_event(0)]) and journal.write([_event(1)])
    cut = journal.mark()  # a snapshot covering r0 and r1 is being stored
    assert journal.write([_event(2), _event(3)])
    assert metrics.JOURNAL_BYTES._value.get() - bytes_before == journal.bytes > 0
    assert metrics.SPOOL_EVENTS._value.get() == spool_before  # not backlog: these events were all delivered
    journal.release(cut)
    journal.close()  # or killed: the files stay either way

    again = EventJournal(Spool(tmp_path, fsync="never", journal=True))
    assert [[e.request_id for e in batch] for batch in again.replay()] == [["r2", "r3"]]
    assert [[e.request_id for e in batch] for batch in again.replay()] == [["r2", "r3"]]  # replay does not consume
    again.release(again.mark())
    assert list(again.replay()) == [] and again.bytes == 0
    again.close()


def test_a_full_journal_counts_what_it_could_not_write_apart_from_dropped_events(tmp_path: Path) -> None:
    full = metrics.JOURNAL_UNWRITTEN.labels(reason="spool_full")
    dropped = metrics.EVENTS_DROPPED.labels(reason="spool_full")
    before, dropped_before = full._value.get(), dropped._value.get()
    journal = EventJournal(Spool(tmp_path, max_bytes=2048, segment_bytes=1024, fsync="never", journal=True))
    results = [journal.write([_event(i)]) for i in range(40)]
    assert results[0] and not results[-1]
    assert full._value.get() - before == results.count(False)
    assert dropped._value.get() == dropped_before  # the events were monitored; only a crash would lose them
    journal.close()
