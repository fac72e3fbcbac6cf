"""Regression tests of the security review's findings (issue 15): each fails on the code the review tried."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from starlette.testclient import TestClient

from modelpilot.config import MonitorSettings, load_settings
from modelpilot.events.model import InferenceEvent
from modelpilot.loaders import TrustRequest
from modelpilot.monitoring.service import MonitorService
from modelpilot.registry import Registry
from modelpilot.serving.app import create_app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("findings") / "home"
    reg = Registry.open(load_settings(home=home, actor="tester"))
    reg.register(
        "credit", f"{EXAMPLE / 'model.py'}:CreditModel", format="python", reference=EXAMPLE / "reference.csv",
        target="default", trust=TrustRequest(trust_code=True, reason="test"),
    )  # fmt: skip
    reg.store.close()
    return home


@pytest.fixture(scope="module")
def client(home: Path) -> Iterator[TestClient]:
    with TestClient(create_app(load_settings(home=home, actor="tester"))) as c:
        yield c


def _event(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "request_id": "r1", "time": 1.0, "model": "credit", "version": 1, "variant": "stable",
        "features": {"age": [31]}, "prediction": [0], "probabilities": [[0.9, 0.1]], "classes": [0, 1],
        "latency_s": 0.01, "status": 200,
    }  # fmt: skip
    data.update(changes)
    return {"specversion": "1.0", "id": "e1", "type": "io.modelpilot.inference", "source": "t", "data": data}


def _post(client: TestClient, doc: Any) -> Any:
    body = orjson.dumps(doc)
    return client.post("/v1/events", content=body, headers={"content-type": "application/cloudevents+json"})


def test_a_valid_event_is_accepted(client: TestClient) -> None:
    r = _post(client, _event())
    assert r.status_code == 202, r.text


@pytest.mark.parametrize(
    ("changes", "status", "names"),
    [
        ({"request_id": "x" * 10_000}, 422, "request_id: 10000 characters"),
        ({"model": "m" * 300}, 422, "model: 300 characters"),
        ({"version": "9" * 4300}, 422, "version"),
        ({"version": 2**31}, 422, "version"),
        ({"version": True}, 422, "version"),
        ({"version": 0}, 422, "version"),
        ({"probabilities": ["x"]}, 422, "probabilities"),
        ({"probabilities": [[0.5, 0.5], [0.1]]}, 422, "probabilities"),
        ({"probabilities": [[0.5, 0.5], [0.1, 0.9]]}, 422, "probabilities: shape [2, 2]"),
        ({"classes": 5}, 422, "classes"),
        ({"classes": [{"a": 1}]}, 422, "classes"),
        ({"status": "x" * 5000}, 422, "status"),
        ({"model": "nobody"}, 404, "'nobody' is not registered"),
        ({"version": 99}, 404, "has no version 99"),
    ],
)
def test_bad_inference_events_get_a_4xx_naming_the_field(
    client: TestClient, changes: dict[str, Any], status: int, names: str
) -> None:
    r = _post(client, _event(**changes))
    assert r.status_code == status, r.text
    assert names in r.json()["error"]


@pytest.mark.parametrize(
    ("label", "names"),
    [({"nested": 1}, "label event.label"), ("x" * 1000, "label event.label"), ([1] * 100_001, "100,001 values")],
)
def test_bad_labels_get_a_422(client: TestClient, label: Any, names: str) -> None:
    doc = {"specversion": "1.0", "id": "l1", "type": "io.modelpilot.label", "source": "t",
           "data": {"request_id": "r1", "label": label}}  # fmt: skip
    r = _post(client, doc)
    assert r.status_code == 422, r.text
    assert names in r.json()["error"]


def test_events_of_versions_without_a_profile_do_not_fill_the_label_joiner(home: Path) -> None:
    reg = Registry.open(load_settings(home=home, actor="tester"))
    svc = MonitorService(reg, MonitorSettings(tick_s=3600, snapshot_s=3600), name="findings")
    forged = [
        InferenceEvent(f"f{i}", 1.0, "nobody", 1, "stable", {"x": np.zeros(1)}, np.zeros(1), 0.0, 200)
        for i in range(50)
    ]
    svc.handle(forged)
    assert svc.joiner.stats["pending"] == 0
    reg.store.close()
