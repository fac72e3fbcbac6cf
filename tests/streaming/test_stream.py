"""Streaming inference on a real broker (Tansu): OIP and v1 request messages answered with the model's traffic plan
exactly as the HTTP server answers them, inference events emitted, garbage, wrong fields, a failing model and an
unserved model dead-lettered with their reasons while the worker keeps going, and offsets that let a restarted
worker (the `modelpilot stream` command) continue where the last one stopped."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from starlette.testclient import TestClient

from modelpilot.cli.app import main
from modelpilot.config import Settings, load_settings
from modelpilot.errors import ConfigError, NotFoundError
from modelpilot.events import Event, InferenceEvent, InProcessBus
from modelpilot.events.kafka import decode_many
from modelpilot.registry import Registry
from modelpilot.serving.app import create_app
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans
from modelpilot.streaming import StreamOptions, StreamService, StreamStats
from modelpilot.streaming.transport import ensure_topics
from modelpilot.telemetry import metrics
from tests.kafka_broker import TansuBroker
from tests.serving.models import register_models

pytestmark = pytest.mark.slow

Sent = tuple[str, bytes, list[tuple[str, bytes]]]


@dataclass
class Home:
    settings: Settings
    registry: Registry
    plans: TrafficPlans


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    """credit v1-v4 (Good, Other, Broken, Slow) on a sticky 50% canary plan; fraud registered, never served."""
    settings = load_settings(home=tmp_path / "home", actor="tester")
    registry = Registry.open(settings)
    register_models(registry, tmp_path / "src")
    register_models(registry, tmp_path / "fraud", name="fraud")
    plans = TrafficPlans(registry.store)
    plans.set(TrafficPlan(model="credit", stable=1, canary=2, weight=50, sticky_field="x1"), actor="t", reason="go")
    yield Home(settings, registry, plans)
    registry.store.close()


def topics() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"req-{tag}", f"resp-{tag}"


def oip(x1: list[float], x2: list[float], *, rid: str | None = None, x2_name: str = "x2") -> bytes:
    body: dict[str, Any] = {
        "inputs": [
            {"name": "x1", "datatype": "FP64", "shape": [len(x1)], "data": x1},
            {"name": x2_name, "datatype": "FP64", "shape": [len(x2)], "data": x2},
        ]
    }
    if rid is not None:
        body["id"] = rid
    return orjson.dumps(body)


def v1(*rows: dict[str, Any]) -> bytes:
    return orjson.dumps({"instances": list(rows)})


def service(
    h: Home, broker: TansuBroker, model: str, in_topic: str, out_topic: str, n: int, **kw: Any
) -> StreamService:
    options = StreamOptions(model, in_topic, out_topic, bootstrap=broker.bootstrap, create_topics=True, max_messages=n)
    return StreamService(h.settings, h.registry, options, seed=1, **kw)


def produce(broker: TansuBroker, topic: str, messages: list[Sent]) -> None:
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for key, value, headers in messages:
        producer.produce(topic, value, key.encode(), headers=list(headers))
    assert producer.flush(10) == 0
    producer.close()


def run(svc: StreamService) -> StreamStats:
    result: dict[str, StreamStats] = {}
    thread = threading.Thread(target=lambda: result.update(stats=svc.run()))
    thread.start()
    thread.join(60)
    if thread.is_alive():
        svc.stop()
        thread.join(20)
        pytest.fail("the stream worker did not take its messages within 60 s")
    return result["stats"]


def read(broker: TansuBroker, topic_names: list[str], n: int) -> list[Any]:
    """``n`` messages from the topics, from the start, as (topic, key, value, headers dict, partition, offset)."""
    c = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": f"check-{uuid.uuid4().hex}",
         "auto.offset.reset": "earliest", "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
    )  # fmt: skip
    c.subscribe(topic_names)
    got: list[Any] = []
    deadline = time.monotonic() + 30
    try:
        while len(got) < n and time.monotonic() < deadline:
            for m in c.consume(50, 0.5):
                if m.error() is None:
                    headers = dict(m.headers() or [])
                    got.append((m.topic(), (m.key() or b"").decode(), m.value(), headers, m.partition(), m.offset()))
    finally:
        c.close()
    assert len(got) == n, got
    return got


def read_events(broker: TansuBroker, topic_names: list[str], n: int) -> list[Any]:
    """``n`` modelpilot events from the topics, from the start, whether they came one per message or as a
    columnar batch (the Kafka bus's default)."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"check-{uuid.uuid4().hex}",
                  "auto.offset.reset": "earliest"})  # fmt: skip
    c.subscribe(topic_names)
    got: list[Any] = []
    deadline = time.monotonic() + 30
    try:
        while len(got) < n and time.monotonic() < deadline:
            got += [e for m in c.consume(50, 0.5) if m.error() is None for e in decode_many(m.value() or b"")]
    finally:
        c.close()
    assert len(got) == n, got
    return got


def stream_total(model: str, outcome: str) -> float:
    return sum(
        v
        for name, labels, v in metrics.samples()
        if name == "modelpilot_stream_messages_total" and labels == {"model": model, "outcome": outcome}
    )


def http_answer(client: TestClient, key: str, value: bytes) -> tuple[dict[str, Any], str]:
    """The HTTP server's body and variant for the same request (v1 with the key as its X-Request-Id)."""
    if b'"instances"' in value:
        r = client.post("/v1/models/credit:predict", content=value, headers={"x-request-id": key})
    else:
        r = client.post("/v2/models/credit/infer", content=value)
    assert r.status_code == 200, r.text
    return r.json(), r.headers["x-variant"]


def without_probabilities(body: dict[str, Any]) -> tuple[dict[str, Any], list[float]]:
    """The body with its probabilities taken out (compared with a tolerance: a joined batch may round apart)."""
    body = dict(body)
    if "outputs" in body:
        proba = next(o for o in body["outputs"] if o["name"] == "predict_proba")["data"]
        body["outputs"] = [o for o in body["outputs"] if o["name"] != "predict_proba"]
        return body, list(np.ravel(proba))
    return body, list(np.ravel(body.pop("probabilities")))


def test_requests_are_answered_as_the_http_server_answers_and_bad_ones_dead_lettered(
    home: Home, broker: TansuBroker
) -> None:
    in_topic, out_topic = topics()
    good: list[Sent] = [
        ("k-oip", oip([0.1, 0.9], [0.3, 0.8], rid="req-oip"), []),
        ("k-v1", v1({"x1": 0.7, "x2": 0.2}, {"x1": 0.2, "x2": 0.1}), []),
    ]
    bad: list[Sent] = [
        ("k-garbage", b"\x00garbage", [("trace", b"t-1")]),
        ("k-wrong-v2", oip([0.1], [0.2], rid="req-wrong", x2_name="x3"), []),
        ("k-wrong-v1", v1({"x1": 0.1, "x3": 0.2}), []),
    ]
    later: list[Sent] = [
        (f"k-{i}", oip([x1], [0.4], rid=f"req-{i}") if i % 2 else v1({"x1": x1, "x2": 0.6}), [])
        for i, x1 in enumerate(round(0.05 + 0.11 * j, 2) for j in range(8))
    ]
    events: list[Event] = []
    bus = InProcessBus(1000)
    bus.subscribe(events.extend)
    before = {o: stream_total("credit", o) for o in ("ok", "parse", "invalid_input")}
    svc = service(home, broker, "credit", in_topic, out_topic, 13, bus=bus)
    produce(broker, in_topic, good + bad + later)
    stats = run(svc)
    assert (stats.taken, stats.answered, stats.outcomes["parse"], stats.outcomes["invalid_input"]) == (13, 10, 1, 2)

    got = read(broker, [out_topic, f"{in_topic}.dlq"], 13)
    replies = {key: (value, headers) for topic, key, value, headers, _, _ in got if topic == out_topic}
    dead = {key: (value, headers, p, o) for topic, key, value, headers, p, o in got if topic != out_topic}
    assert sorted(replies) == sorted(k for k, _, _ in good + later) and sorted(dead) == sorted(k for k, _, _ in bad)

    variants = set()
    with TestClient(create_app(home.settings, bus=InProcessBus(1000), seed=1)) as client:
        for key, value, _ in good + later:
            body, headers = orjson.loads(replies[key][0]), replies[key][1]
            expected, variant = http_answer(client, key, value)
            (mine, p_mine), (theirs, p_theirs) = without_probabilities(body), without_probabilities(expected)
            assert mine == theirs, key  # predictions, version, variant and request id as the HTTP route answers
            np.testing.assert_allclose(p_mine, p_theirs, rtol=1e-12)
            rid = body.get("id", body.get("request_id"))
            assert (
                headers["modelpilot-request-id"] == rid.encode() and headers["modelpilot-variant"] == variant.encode()
            )
            variants.add(variant)
    assert variants == {"stable", "canary"}  # the plan's sticky split, applied the same way

    value, headers, _, _ = dead["k-garbage"]
    assert value == b"\x00garbage" and headers["trace"] == b"t-1"
    assert headers["modelpilot-error-kind"] == b"parse" and b"not valid JSON" in headers["modelpilot-error"]
    [source] = [g for g in read(broker, [in_topic], 13) if g[1] == "k-garbage"]
    assert (headers["modelpilot-source-topic"], headers["modelpilot-source-partition"]) == (
        in_topic.encode(),
        str(source[4]).encode(),
    )
    assert headers["modelpilot-source-offset"] == str(source[5]).encode()
    _, headers, _, _ = dead["k-wrong-v2"]
    assert headers["modelpilot-error-kind"] == b"invalid_input"
    assert headers["modelpilot-error"] == b"inputs: unknown input(s) ['x3']"
    _, headers, _, _ = dead["k-wrong-v1"]
    assert headers["modelpilot-error"] == b"instances[0]: unknown feature(s) ['x3']"
    assert b"x1" in headers["modelpilot-error-hint"]

    inference = [e for e in events if isinstance(e, InferenceEvent)]
    expected_ids = {"req-oip", "k-v1", *(f"req-{i}" if i % 2 else f"k-{i}" for i in range(8))}
    assert {e.request_id for e in inference} == expected_ids  # one event per answered request, none for bad ones
    assert {e.protocol for e in inference} == {"v1", "v2"} and {e.variant for e in inference} == variants
    assert stream_total("credit", "ok") - before["ok"] == 10
    assert stream_total("credit", "parse") - before["parse"] == 1
    assert stream_total("credit", "invalid_input") - before["invalid_input"] == 2
    lag = [v for n, lb, v in metrics.samples() if n == "modelpilot_stream_lag" and lb == {"model": "credit"}]
    assert lag == [0.0]


def test_a_failing_model_and_an_unserved_one_are_dead_lettered_and_the_worker_goes_on(
    home: Home, broker: TansuBroker
) -> None:
    home.plans.set(TrafficPlan(model="credit", stable=3), actor="t", reason="the broken one")
    in_topic, out_topic = topics()
    svc = service(home, broker, "credit", in_topic, out_topic, 3)
    messages: list[Sent] = [
        ("k1", v1({"x1": 0.5, "x2": 0.5}), []),
        ("k1", v1({"x1": 0.5, "x2": -1.0}), []),  # Broken raises on x2 < 0
        ("k1", v1({"x1": 0.9, "x2": 0.9}), []),
    ]
    produce(broker, in_topic, messages)  # one key: one partition, in order
    stats = run(svc)
    assert stats.outcomes == {"ok": 2, "model_error": 1}
    got = read(broker, [out_topic, f"{in_topic}.dlq"], 3)
    dead = [g for g in got if g[0] != out_topic]
    assert len(dead) == 1 and dead[0][2] == messages[1][1]
    assert dead[0][3]["modelpilot-error"] == b"model 'credit' v3 failed: RuntimeError"
    assert dead[0][3]["modelpilot-error-kind"] == b"model_error"
    answered = sorted((g[5], orjson.loads(g[2])["predictions"]) for g in got if g[0] == out_topic)
    assert [p for _, p in answered] == [["no"], ["yes"]]  # the message after the failure was answered too

    in_topic, out_topic = topics()
    svc = service(home, broker, "fraud", in_topic, out_topic, 1)
    produce(broker, in_topic, [("k2", v1({"x1": 0.5, "x2": 0.5}), [])])
    assert run(svc).outcomes == {"unknown_model": 1}
    [(topic, _, _, headers, _, _)] = read(broker, [out_topic, f"{in_topic}.dlq"], 1)
    assert topic == f"{in_topic}.dlq" and headers["modelpilot-error-kind"] == b"unknown_model"
    assert headers["modelpilot-error"] == b"model 'fraud' is not served here"

    with pytest.raises(NotFoundError, match="model 'nosuch' is not registered"):
        service(home, broker, "nosuch", in_topic, out_topic, 1)


def test_the_command_commits_so_a_restart_continues_and_names_missing_topics(
    home: Home, broker: TansuBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    in_topic, out_topic = topics()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    ensure_topics(admin, {"--in": in_topic}, bootstrap=broker.bootstrap, create=True, partitions=1)
    base = ["--home", str(home.settings.home), "stream", "credit", "--in", in_topic, "--out", out_topic]
    base += ["--bootstrap", broker.bootstrap]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert f"--out: topic '{out_topic}' does not exist" in err and "--create-topics" in err
    assert main([*base[:-4], "--out", in_topic, "--bootstrap", broker.bootstrap]) == 2
    assert f"--out: topic '{in_topic}' is also --in" in capsys.readouterr().err

    produce(broker, in_topic, [(f"k{i}", v1({"x1": 0.1 * i, "x2": 0.5}), []) for i in range(4)])
    assert main([*base, "--create-topics", "--max-messages", "2"]) == 0
    assert "stream: 2 messages: 2 answered, 0 dead-lettered" in capsys.readouterr().err
    assert main([*base, "--max-messages", "2"]) == 0  # the same group: it starts after the committed offsets
    got = read(broker, [out_topic], 4)
    assert sorted(g[1] for g in got) == ["k0", "k1", "k2", "k3"]  # each once: nothing lost, nothing repeated


def test_events_go_to_the_configured_kafka_bus_and_bad_client_settings_are_named(
    home: Home, broker: TansuBroker, tmp_path: Path
) -> None:
    in_topic, out_topic = topics()
    inference_topic = f"inference-{in_topic}"
    kafka = {"bootstrap": broker.bootstrap, "inference_topic": inference_topic, "partitions": 1}
    settings = load_settings(
        home=home.settings.home, actor="tester", events={"bus": "kafka", "kafka": kafka, "spool": {"dir": tmp_path}}
    )
    options = StreamOptions(
        "credit", in_topic, out_topic, bootstrap=broker.bootstrap, create_topics=True, max_messages=2
    )
    svc = StreamService(settings, home.registry, options, seed=1)
    produce(broker, in_topic, [("k1", v1({"x1": 0.9, "x2": 0.9}), []), ("k2", oip([0.1], [0.1], rid="r2"), [])])
    assert run(svc).answered == 2
    events = read_events(broker, [inference_topic], 2)
    assert sorted((e.request_id, e.protocol) for e in events if isinstance(e, InferenceEvent)) == [
        ("k1", "v1"),
        ("r2", "v2"),
    ]

    bad = load_settings(home=home.settings.home, actor="tester", events={"kafka": {"config": {"bogus.prop": "1"}}})
    with pytest.raises(ConfigError, match=r'events\.kafka\.config: .*"bogus\.prop"'):
        StreamService(bad, home.registry, options)
