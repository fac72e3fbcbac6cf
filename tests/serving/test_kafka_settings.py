"""Settings of the Kafka bus that cannot work are refused before anything starts, naming the field and the fix;
with the Kafka bus a label must name its model (it travels on the model's partition to meet its prediction)."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from modelpilot.config import load_settings
from modelpilot.errors import ConfigError
from modelpilot.events import InProcessBus
from modelpilot.serving.app import create_app


def test_up_on_kafka_and_a_jsonl_file_on_kafka_are_refused(tmp_path: Path) -> None:
    kafka = {"bus": "kafka", "kafka": {"bootstrap": "127.0.0.1:1"}}
    with pytest.raises(ConfigError, match=r"events.bus: `modelpilot up`") as info:
        create_app(load_settings(home=tmp_path, events=kafka), monitor=True)
    assert "monitor --bus kafka" in (info.value.hint or "")
    with pytest.raises(ConfigError, match=r"events\.jsonl_path"):
        create_app(load_settings(home=tmp_path, events={**kafka, "jsonl_path": str(tmp_path / "e.jsonl")}))


def test_with_the_kafka_bus_feedback_must_name_the_model(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, events={"bus": "kafka"})
    bus = InProcessBus(10)  # stands in for the broker: the route's check comes before publishing
    with TestClient(create_app(settings, bus=bus)) as client:
        r = client.post(
            "/v1/feedback", json=[{"request_id": "a", "label": 1, "model": "credit"}, {"request_id": "b", "label": 0}]
        )
        assert r.status_code == 422 and "[1].model" in r.json()["error"], r.text
        assert bus.flush(2.0) and bus.delivered == 0  # nothing half-accepted
        ok = client.post("/v1/feedback", json=[{"request_id": "a", "label": 1, "model": "credit"}])
        assert ok.status_code == 202 and ok.json()["accepted"] == 1
