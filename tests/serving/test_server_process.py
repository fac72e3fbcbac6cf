"""Real `modelpilot serve` processes: tritonclient interop, replicas following plan changes, SIGTERM drain."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
import tritonclient.http as triton

from modelpilot.cli.app import main
from modelpilot.config import Settings
from modelpilot.registry import Registry
from tests.serving.server_process import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def server(home: tuple[Settings, Registry]) -> Iterator[ServerProcess]:
    settings, _ = home
    with ServerProcess(settings.home) as proc:
        yield proc


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_interop(server: ServerProcess, binary: bool) -> None:
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("credit") and client.is_model_ready("credit", "1")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    meta = client.get_model_metadata("credit")
    assert [i["name"] for i in meta["inputs"]] == ["x1", "x2"]
    x1, x2 = np.array([0.1, 0.9, 0.5]), np.array([0.1, 0.9, 0.2])
    inputs = []
    for name, data in (("x1", x1), ("x2", x2)):
        tensor = triton.InferInput(name, list(data.shape), "FP64")
        tensor.set_data_from_numpy(data, binary_data=binary)
        inputs.append(tensor)
    outputs = [
        triton.InferRequestedOutput("predict", binary_data=binary),
        triton.InferRequestedOutput("predict_proba", binary_data=binary),
    ]
    result = client.infer("credit", inputs, outputs=outputs, request_id="triton-1")
    assert result.get_response()["id"] == "triton-1"
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predict").tolist()]
    assert labels == ["no", "yes", "no"]
    proba = result.as_numpy("predict_proba")
    assert proba.shape == (3, 2)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-(x1 + x2 - 1))), rtol=1e-9)
    with pytest.raises(triton.InferenceServerException) as err:
        client.infer("nope", inputs)
    assert "not served" in str(err.value)
    client.close()


def _version_served(url: str) -> str:
    body = {
        "inputs": [
            {"name": "x1", "datatype": "FP64", "shape": [1], "data": [0.5]},
            {"name": "x2", "datatype": "FP64", "shape": [1], "data": [0.5]},
        ]
    }
    return str(httpx.post(f"{url}/v2/models/credit/infer", json=body, timeout=5).json()["model_version"])


def _wait_for(url: str, version: str, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if _version_served(url) == version:
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"{url} still not serving v{version} after {timeout} s")


def test_two_replicas_follow_set_and_rollback_within_two_seconds(home: tuple[Settings, Registry]) -> None:
    settings, _ = home
    with ServerProcess(settings.home) as a, ServerProcess(settings.home) as b:
        assert _version_served(a.url) == _version_served(b.url) == "1"
        assert main(["--home", str(settings.home), "traffic", "set", "credit", "--stable", "2", "--reason", "t"]) == 0
        for proc in (a, b):
            assert _wait_for(proc.url, "2", 2.0) < 2.0
        assert main(["--home", str(settings.home), "rollback", "credit", "--reason", "v2 misbehaves"]) == 0
        for proc in (a, b):
            assert _wait_for(proc.url, "1", 2.0) < 2.0


def _in_flight(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return float(next(ln for ln in text.splitlines() if ln.startswith("modelpilot_in_flight_requests ")).split()[1])


def test_sigterm_under_load_loses_no_response_and_flushes_events(home: tuple[Settings, Registry]) -> None:
    settings, _ = home
    events_file = settings.home / "events.jsonl"
    proc = ServerProcess(
        settings.home,
        env={"MODELPILOT_EVENTS__JSONL_PATH": str(events_file), "MODELPILOT_SERVING__MODEL_CONCURRENCY": "16"},
    )
    proc.wait_ready()
    main(["--home", str(settings.home), "traffic", "set", "credit", "--stable", "4", "--reason", "slow model"])
    _wait_for(proc.url, "4", 5.0)
    ok: list[str] = []
    failed: list[str] = []
    lock = threading.Lock()
    started = threading.Barrier(9)

    def client(i: int) -> None:
        body = {
            "inputs": [
                {"name": "x1", "datatype": "FP64", "shape": [1], "data": [2.5]},  # Slow: 1.5 s per call
                {"name": "x2", "datatype": "FP64", "shape": [1], "data": [0.5]},
            ]
        }
        started.wait()
        try:
            r = httpx.post(
                f"{proc.url}/v2/models/credit/infer", json=body, timeout=10, headers={"x-request-id": f"drain-{i}"}
            )
            with lock:
                (ok if r.status_code == 200 else failed).append(f"drain-{i}:{r.status_code}")
        except httpx.TransportError as exc:
            with lock:
                failed.append(f"drain-{i}:{type(exc).__name__}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    started.wait()
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline and _in_flight(proc.url) < 8:
        time.sleep(0.02)
    assert _in_flight(proc.url) == 8  # every request is in flight inside the slow model
    # uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status is "killed by SIGTERM"
    assert proc.terminate(timeout=20) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in proc.log.read_text()
    for t in threads:
        t.join(15)
    assert failed == [] and len(ok) == 8
    recorded = {orjson.loads(line)["request_id"] for line in events_file.read_bytes().splitlines()}
    assert {f"drain-{i}" for i in range(8)} <= recorded
    with pytest.raises(httpx.TransportError):  # and it is really gone
        httpx.get(f"{proc.url}/v2/health/live", timeout=1)


def test_workers_share_metrics(home: tuple[Settings, Registry], tmp_path: Path) -> None:
    settings, _ = home
    with ServerProcess(settings.home, args=("--workers", "2"), env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}) as proc:
        for _ in range(20):
            assert _version_served(proc.url) == "1"
        text = httpx.get(f"{proc.url}/metrics", timeout=5).text
        line = next(
            ln
            for ln in text.splitlines()
            if ln.startswith("modelpilot_requests_total") and 'code="200"' in ln and 'protocol="v2"' in ln
        )
        assert float(line.rsplit(" ", 1)[1]) == 20.0  # both workers' counts, merged


@pytest.mark.postgres
def test_two_replicas_on_postgresql_follow_a_rollback(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from modelpilot.config import load_settings
    from modelpilot.serving.plan import TrafficPlan
    from modelpilot.serving.traffic import TrafficPlans
    from tests.serving.models import register_models

    url = request.getfixturevalue("postgres").create_database()
    home = tmp_path / "home"  # the artifact folder is shared by both replicas, as a shared volume would be
    registry = Registry.open(load_settings(home=home, store=url))
    register_models(registry, tmp_path / "src")
    TrafficPlans(registry.store).set(TrafficPlan(model="credit", stable=1, canary=2, weight=100), actor="t")
    registry.store.close()
    with ServerProcess(home, store=url) as a, ServerProcess(home, store=url) as b:
        assert _version_served(a.url) == _version_served(b.url) == "2"
        assert main(["--home", str(home), "--store", url, "rollback", "credit", "--reason", "canary bad"]) == 0
        for proc in (a, b):
            assert _wait_for(proc.url, "1", 2.0) < 2.0
