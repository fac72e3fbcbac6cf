"""`modelpilot monitor --events FILE`: the monitor as its own process over the server's event file, continuing
where it stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelpilot.cli.app import main
from modelpilot.events.sinks import JsonlSink
from modelpilot.monitoring.history import MonitorHistory
from modelpilot.registry import Registry
from tests.monitoring.test_service import _traffic, registry  # noqa: F401 (fixture)


def test_one_shot_runs_continue_from_the_saved_offset(
    registry: Registry,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    events, _ = _traffic(registry)
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(path)
    sink(events[:60])  # 3000 rows: three windows
    home = ["--home", str(tmp_path / "home")]
    assert main([*home, "monitor", "--events", str(path)]) == 0
    assert "60 events, 3 windows, 0 alarm transitions" in capsys.readouterr().err
    with path.open("ab") as f:
        f.write(b"this is not an event\n")
    sink(events[60:])
    sink.close()
    assert main([*home, "monitor", "--events", str(path)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "100 events, 5 windows, 2 alarm transitions, 1 lines skipped" in err
    assert "window 6: drift raised" in err
    history = MonitorHistory(registry.store)
    assert [w.window for w in history.windows("credit", last=100)] == list(range(8))


def test_follow_mode_saves_its_place_and_open_window_on_sigterm(
    registry: Registry,  # noqa: F811
    tmp_path: Path,
) -> None:
    events, _ = _traffic(registry)
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(path)
    sink(events[:10])
    env = {**os.environ, "MODELPILOT_HOME": str(tmp_path / "home"), "MODELPILOT_MONITOR__TICK_S": "0.1"}
    env["MODELPILOT_MONITOR__WINDOW__SECONDS"] = "1e12"  # the events are old: only the row count closes windows
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelpilot", "monitor", "--events", str(path), "--follow", "--name", "m1"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        sink(events[10:30])  # 1500 rows: one window closes, 500 rows stay open
        history = MonitorHistory(registry.store)
        deadline = time.monotonic() + 30
        while not history.windows("credit") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(history.windows("credit")) == 1
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    sink.close()
    assert proc.returncode == 0, err
    assert "30 events, 1 windows" in err
    state = history.load_state("m1")
    assert state is not None and state["position"]["offset"] == path.stat().st_size
    (stream,) = state["monitor"]["streams"]
    assert stream["window"]["rows"] == 500


def test_a_rotated_file_is_read_from_its_start(
    registry: Registry,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    events, _ = _traffic(registry)
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(path)
    sink(events[:40])
    sink.close()
    home = ["--home", str(tmp_path / "home")]
    assert main([*home, "monitor", "--events", str(path)]) == 0
    rotated = tmp_path / "events.new"
    sink = JsonlSink(rotated)
    sink(events[40:100])  # the new file is already longer than the old offset
    sink.close()
    rotated.replace(path)
    capsys.readouterr()
    assert main([*home, "monitor", "--events", str(path)]) == 0
    assert "60 events" in capsys.readouterr().err
