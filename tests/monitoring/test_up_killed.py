"""A real ``modelpilot up`` SIGKILLed between two snapshots loses nothing its monitor had taken: the restarted
process replays its journal, and the windows come out exactly as if it had never stopped (each recorded once)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow.csv as pacsv
import pytest

from modelpilot.config import load_settings
from modelpilot.loaders import TrustRequest
from modelpilot.monitoring.history import MonitorHistory
from modelpilot.registry import Registry
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from tests.serving.server_process import ServerProcess

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit"
FEATURES = ("income", "debt_ratio", "age", "late_payments", "employment", "region")
WINDOW = 100  # rows
ENV = {
    "MODELPILOT_MONITOR__WINDOW__ROWS": str(WINDOW),
    "MODELPILOT_MONITOR__SNAPSHOT_S": "3600",  # no snapshot before the kill: everything must come from the journal
    "MODELPILOT_EVENTS__SPOOL__FSYNC": "never",
}


def _prepare(home: Path) -> None:
    registry = Registry.open(load_settings(home=home, actor="tester"))
    try:
        registry.register(
            "credit", f"{EXAMPLE / 'model.py'}:CreditModel", format="python", reference=EXAMPLE / "reference.csv",
            target="default", trust=TrustRequest(trust_code=True, reason="test"),
        )  # fmt: skip
        registry.promote("credit", 1, reason="first release")
        TrafficPlans(registry.store).set(TrafficPlan(model="credit", stable=1), actor="tester", reason="serve v1")
    finally:
        registry.store.close()


def _send(url: str, rows: list[dict[str, Any]], per_request: int) -> int:
    with httpx.Client(base_url=url, timeout=10.0) as client:
        for i in range(0, len(rows), per_request):
            answer = client.post("/v1/models/credit:predict", json={"instances": rows[i : i + per_request]})
            assert answer.status_code == 200, answer.text
    return len(rows) // per_request


def _taken(url: str) -> float:
    """Inference events the monitor has taken (every outcome but labels)."""
    page = httpx.get(f"{url}/metrics").text
    found = re.findall(r'^modelpilot_monitor_events_total\{outcome="(\w+)"\} (\S+)$', page, re.M)
    return sum(float(v) for outcome, v in found if outcome != "label")


def _wait(what: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_killed_up_replays_its_journal_and_records_every_window_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _prepare(home)
    table = pacsv.read_csv(EXAMPLE / "traffic.csv").slice(0, 1100).select(list(FEATURES))
    rows: list[dict[str, Any]] = table.to_pylist()

    first = ServerProcess(home, command="up", env=ENV)
    first.wait_ready()
    sent = _send(first.url, rows[:1050], 10)  # 105 events: 10 windows closed and recorded, 50 rows left open
    _wait(lambda: _taken(first.url) >= sent)
    first.proc.kill()  # SIGKILL: no final snapshot, no flush
    first.proc.wait()
    first.terminate()
    history = MonitorHistory(Registry.open(load_settings(home=home, actor="tester")).store)
    assert len(history.windows("credit", last=100)) == 10

    with ServerProcess(home, command="up", env=ENV) as second:
        _send(second.url, rows[1050:], 10)  # 50 more rows close window 10 only if none of the first 50 was lost
        _wait(lambda: len(history.windows("credit", last=100)) >= 11)
        time.sleep(1.0)  # a double replay would record more; give it the time to show
        log = second.log.read_text()
    windows = history.windows("credit", last=100)
    assert [w.window for w in windows] == list(range(11))  # each once: the replay recorded none of 0..9 again
    assert all(w.rows == WINDOW for w in windows)
    assert f"replayed {sent} events" in log
    history.store.close()
