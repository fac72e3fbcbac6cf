"""The embedded monitor's journal: a monitor killed between snapshots comes back, replays what it had taken since
the last one, and ends with the windows, joins and alarms of a monitor that never stopped — each window recorded
and each alarm announced once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from modelpilot.config import MonitorSettings
from modelpilot.events import InferenceEvent, LabelEvent
from modelpilot.events.journal import EventJournal
from modelpilot.events.spool import Spool
from modelpilot.monitoring.results import Alarm, WindowResult
from modelpilot.monitoring.service import MonitorService
from modelpilot.registry import Registry
from tests.monitoring.close import assert_close
from tests.monitoring.test_service import _traffic, registry  # noqa: F401  (the fixture)

QUIET = MonitorSettings(tick_s=3600, snapshot_s=3600)  # no clock thread work: the test says when to snapshot


def _journal(path: Path) -> EventJournal:
    return EventJournal(Spool(path, fsync="never", journal=True))


def _kill(svc: MonitorService) -> None:
    """What SIGKILL leaves: no final snapshot; the journal's files stay (its lock goes with the process)."""
    svc._stop.set()
    assert svc.journal is not None
    svc.journal.spool.close()


def _alarms(seen: list[Alarm]) -> list[tuple[str, str, int]]:
    return sorted((a.kind, a.transition, a.window) for a in seen)


def _key(r: WindowResult) -> tuple[str, int]:
    return (r.kind, r.window)


@pytest.mark.parametrize("snapshot_at", [0, 30])
def test_a_killed_monitor_replays_its_journal_and_records_each_window_and_alarm_once(
    registry: Registry,  # noqa: F811
    tmp_path: Path,
    snapshot_at: int,
) -> None:
    events, labels = _traffic(registry)  # 50 rows per event, 20 events per window
    want_alarms: list[Alarm] = []
    straight = MonitorService(registry, QUIET, name="straight", on_alarm=want_alarms.append, transactional=True)
    want = straight.handle(events[:130]) + straight.handle(labels[:60]) + straight.handle(events[130:])
    want += straight.flush()  # transactional and never snapshotted: it stores nothing

    seen: list[Alarm] = []
    first = MonitorService(registry, QUIET, name="m", on_alarm=seen.append, journal=_journal(tmp_path / "j")).start()
    first.handle(events[:snapshot_at])
    if snapshot_at:
        first.snapshot()  # the journal is cut here: what follows is all a restart needs
        assert first.journal is not None and first.journal.spool.pending == 0
    first.handle(events[snapshot_at:130])  # windows closed here are recorded and announced before the kill
    first.handle(labels[:60])
    assert first.history.windows("credit", last=100)  # some were recorded before the kill
    _kill(first)

    second = MonitorService(registry, QUIET, name="m", on_alarm=seen.append, journal=_journal(tmp_path / "j")).start()
    second.handle(events[130:])
    second.flush()
    stored = second.history.windows("credit", last=1000)
    assert sorted(map(_key, stored)) == sorted(map(_key, want))  # every window once: none lost, none twice
    by_key = {_key(r): r.model_dump(exclude={"alarms"}) for r in stored}  # alarms are stored apart
    assert_close([by_key[_key(r)] for r in want], [r.model_dump(exclude={"alarms"}) for r in want])
    assert _alarms(seen) == _alarms(want_alarms)  # announced once each, held ones included
    assert second.joiner.stats["joined"] == straight.joiner.stats["joined"] == 60


def test_the_replay_closes_windows_where_the_clock_closed_them(
    registry: Registry,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A tick that closed a partial window between two batches is journaled in its place: the replay closes the
    same window there, so the events after it go to the next window as they did before the kill (without it they
    would fill the old window and that window, already recorded, would be dropped as a repeat, with their rows)."""
    events, labels = _traffic(registry)  # 20 events per 1,000-row window; event times 1,000,000 + i
    late = 1_000_000.0 + 25 + QUIET.window.seconds  # the 5 events of window 1 are past the window's time

    def run(svc: MonitorService) -> list[WindowResult]:
        out = svc.handle(events[:25]) + svc.handle(labels[:25])
        out += svc.tick(late)  # closes window 1 (5 events) and the open label window
        return out + svc.handle(events[25:60])

    straight = MonitorService(registry, QUIET, name="straight", transactional=True)
    want = run(straight) + straight.flush()
    assert (("traffic", 1) in map(_key, want)) and next(r.rows for r in want if _key(r) == ("traffic", 1)) == 250

    first = MonitorService(registry, QUIET, name="m", journal=_journal(tmp_path / "j")).start()
    run(first)
    _kill(first)
    second = MonitorService(registry, QUIET, name="m", journal=_journal(tmp_path / "j")).start()
    second.flush()
    stored = second.history.windows("credit", last=1000)
    assert sorted(map(_key, stored)) == sorted(map(_key, want))
    by_key = {_key(r): r.model_dump(exclude={"alarms"}) for r in stored}
    assert_close([by_key[_key(r)] for r in want], [r.model_dump(exclude={"alarms"}) for r in want])


def test_a_snapshot_cuts_the_journal_and_a_clean_stop_leaves_nothing_to_replay(
    registry: Registry,  # noqa: F811
    tmp_path: Path,
) -> None:
    events, _ = _traffic(registry)
    svc = MonitorService(registry, QUIET, name="m", journal=_journal(tmp_path / "j")).start()
    svc.handle(events[:10])
    assert svc.journal is not None and svc.journal.spool.pending == 1 and svc.journal.bytes > 0
    svc.snapshot()
    assert svc.journal.spool.pending == 0
    svc.handle(events[10:15])
    svc.stop()  # the final snapshot covers them
    again = _journal(tmp_path / "j")
    assert list(again.replay()) == []
    again.close()


def test_the_bus_subscriber_waits_for_the_restore_and_the_replay(
    registry: Registry,  # noqa: F811
    tmp_path: Path,
) -> None:
    events, _ = _traffic(registry)
    svc = MonitorService(registry, QUIET, name="m", journal=_journal(tmp_path / "j"), wait_for_start=True)
    done = threading.Event()

    def deliver() -> None:
        svc(events[:5])  # as the bus's thread would, before the server started the monitor
        done.set()

    thread = threading.Thread(target=deliver)
    thread.start()
    assert not done.wait(0.5) and svc.monitor.counters["events"] == 0
    svc.start()
    assert done.wait(5.0) and svc.monitor.counters["events"] == 5
    thread.join()
    svc.stop()


def test_a_batch_the_journal_cannot_encode_is_still_monitored_and_counted(
    registry: Registry,  # noqa: F811
    tmp_path: Path,
) -> None:
    from modelpilot.telemetry import metrics

    before = metrics.JOURNAL_UNWRITTEN.labels(reason="unencodable")._value.get()
    events, _ = _traffic(registry)
    odd = LabelEvent(request_id="r-odd", label=object(), time=1.0)  # nothing JSON can hold
    svc = MonitorService(registry, QUIET, name="m", journal=_journal(tmp_path / "j")).start()
    svc.handle([*events[:3], odd])
    assert svc.monitor.counters["events"] == 3
    assert metrics.JOURNAL_UNWRITTEN.labels(reason="unencodable")._value.get() - before == 4
    assert isinstance(events[0], InferenceEvent)
    svc.stop()
