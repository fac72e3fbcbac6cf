"""The server in-process: OIP v2 and v1 routes, errors, fallback, shadow, events, feedback, metrics, OpenAPI."""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelpilot.events import InferenceEvent, LabelEvent
from modelpilot.serving.plan import Shadow, TrafficPlan
from tests.serving.conftest import ServeFactory


def test_health_metadata_and_infer(serve: ServeFactory) -> None:
    s = serve()
    c = s.client
    assert c.get("/v2/health/live").json() == {"live": True}
    assert c.get("/v2/health/ready").status_code == 200
    assert c.get("/v2").json()["extensions"] == ["binary_tensor_data"]
    meta = c.get("/v2/models/credit").json()
    assert [(o["name"], o["datatype"]) for o in meta["outputs"]] == [("predict", "BYTES"), ("predict_proba", "FP64")]
    assert meta["inputs"] == [
        {"name": "x1", "datatype": "FP64", "shape": [-1]},
        {"name": "x2", "datatype": "FP64", "shape": [-1]},
    ]
    assert meta["parameters"]["classes"] == ["no", "yes"] and meta["versions"] == ["1"]
    assert c.get("/v2/models/credit/ready").json()["ready"] is True
    assert c.get("/v2/models/credit/versions/1/ready").status_code == 200
    r = s.client.post(
        "/v2/models/credit/infer",
        json={
            "id": "req-1",
            "inputs": [
                {"name": "x1", "datatype": "FP64", "shape": [2, 1], "data": [[0.1], [0.9]]},
                {"name": "x2", "datatype": "FP32", "shape": [2], "data": [0.1, 0.9]},
            ],
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "req-1" and body["model_version"] == "1" and body["parameters"] == {"variant": "stable"}
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["predict"]["data"] == ["no", "yes"]
    proba = np.array(outputs["predict_proba"]["data"]).reshape(outputs["predict_proba"]["shape"])
    expected = 1 / (1 + np.exp(-(np.array([0.2, 1.8]) - 1)))
    np.testing.assert_allclose(proba[:, 1], expected, rtol=1e-6)
    assert r.headers["x-request-id"] == "req-1" and r.headers["x-variant"] == "stable"


def test_single_matrix_input_and_requested_outputs(serve: ServeFactory) -> None:
    s = serve()
    r = s.client.post(
        "/v2/models/credit/infer",
        json={
            "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [2, 2], "data": [0.1, 0.1, 0.9, 0.9]}],
            "outputs": [{"name": "predict"}],
        },
    )
    assert r.status_code == 200, r.text
    assert [o["name"] for o in r.json()["outputs"]] == ["predict"]
    assert r.json()["outputs"][0]["data"] == ["no", "yes"]


def test_v1_records_route(serve: ServeFactory) -> None:
    s = serve()
    r = s.client.post("/v1/models/credit:predict", json={"instances": [{"x1": 0.9, "x2": 0.9}, {"x1": 0, "x2": 0}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["predictions"] == ["yes", "no"] and body["classes"] == ["no", "yes"]
    assert body["model_version"] == "1" and body["variant"] == "stable" and len(body["request_id"]) == 32
    assert len(body["probabilities"]) == 2


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b'{"inputs": [{"name": "x1", "datatype": "FP99", "shape": [1], "data": [1]}]}', 422, "FP99"),
        (
            b'{"inputs": [{"name": "x1", "datatype": "FP64", "shape": [2], "data": [1]}, '
            b'{"name": "x2", "datatype": "FP64", "shape": [1], "data": [1]}]}',
            422,
            "x1",
        ),
        (b'{"inputs": [{"name": "x1", "datatype": "FP64", "shape": [1], "data": [1]}]}', 422, "x2"),
        (
            b'{"inputs": [{"name": "x1", "datatype": "FP64", "shape": [1], "data": [1]}, '
            b'{"name": "x2", "datatype": "FP64", "shape": [1], "data": [1]}, '
            b'{"name": "x3", "datatype": "FP64", "shape": [1], "data": [1]}]}',
            422,
            "x3",
        ),
        (
            b'{"inputs": [{"name": "x1", "datatype": "FP64", "shape": [1], "data": [1]}, '
            b'{"name": "x2", "datatype": "BYTES", "shape": [1], "data": ["a"]}]}',
            422,
            "x2",
        ),
    ],
)
def test_bad_v2_requests_get_a_status_and_name_the_field(
    serve: ServeFactory, body: bytes, status: int, needle: str
) -> None:
    s = serve()
    r = s.client.post("/v2/models/credit/infer", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    err = r.json()
    assert needle in err["error"] and err.get("hint")
    assert s.infer([0.5], [0.5]).status_code == 200  # still serving


def test_nan_where_the_signature_forbids_it(serve: ServeFactory) -> None:
    s = serve()
    r = s.client.post("/v1/models/credit:predict", json={"instances": [{"x1": None, "x2": 0.5}]})
    assert r.status_code == 422 and "x1" in r.json()["error"] and "missing" in r.json()["error"]
    r = s.client.post("/v1/models/credit:predict", json={"instances": [{"x1": 0.5, "x2": 0.5, "x9": 1}]})
    assert r.status_code == 422 and "x9" in r.json()["error"]
    r = s.client.post("/v1/models/credit:predict", json={"instances": [{"x1": 0.5}]})
    assert r.status_code == 422 and "x2" in r.json()["error"]
    r = s.client.post("/v1/models/credit:predict", json={"rows": []})
    assert r.status_code == 422 and "instances" in r.json()["error"]


def test_unknown_model_version_and_route(serve: ServeFactory) -> None:
    s = serve()
    assert s.infer([0.5], [0.5], path="/v2/models/nope/infer").status_code == 404
    r = s.infer([0.5], [0.5], path="/v2/models/credit/versions/3/infer")
    assert r.status_code == 404 and "served versions: [1]" in r.json()["hint"]
    assert s.client.get("/v2/models/credit/versions/x").status_code == 404
    assert s.client.get("/v3/anything").json()["code"] == "not_found"
    assert s.client.get("/v2/models/credit/infer").status_code == 405


def test_body_and_row_limits(serve: ServeFactory) -> None:
    s = serve(serving={"max_body_bytes": 2048, "max_rows": 10})
    big = s.infer([0.5] * 400, [0.5] * 400)
    assert big.status_code == 413 and "limit" in big.json()["error"]
    rows = s.infer([0.5] * 11, [0.5] * 11)
    assert rows.status_code == 413 and "rows" in rows.json()["error"]
    assert s.infer([0.5] * 10, [0.5] * 10).status_code == 200


def test_model_error_is_500_and_fallback_answers(serve: ServeFactory, caplog: pytest.LogCaptureFixture) -> None:
    s = serve()
    s.plans.set(TrafficPlan(model="credit", stable=3), actor="t")  # v3 = Broken on x2 < 0
    s.refresh()
    r = s.infer([0.5], [-1.0])
    assert r.status_code == 500 and "RuntimeError" in r.json()["error"]
    assert "feature store timeout" not in r.text  # the exception's text stays in the server log
    assert any("feature store timeout" in str(rec.exc_info[1]) for rec in caplog.records if rec.exc_info)
    s.registry.set_alias("credit", "fallback", 1, reason="safe")
    s.refresh()
    r = s.infer([0.5], [-1.0])
    assert r.status_code == 200, r.text
    assert r.json()["model_version"] == "1" and r.json()["parameters"] == {
        "variant": "fallback",
        "fallback_reason": "error",
    }
    metrics = s.client.get("/metrics").text
    assert 'modelpilot_fallbacks_total{model="credit",reason="error"}' in metrics
    assert 'modelpilot_model_errors_total{kind="error",model="credit",version="3"}' in metrics


def test_timeout_is_504_and_busy_is_503(serve: ServeFactory) -> None:
    s = serve(serving={"model_timeout_s": 0.3, "model_concurrency": 1, "queue_timeout_s": 0.2})
    s.plans.set(TrafficPlan(model="credit", stable=4), actor="t")  # v4 = Slow: sleeps x1 - 1 seconds
    s.refresh()
    t0 = time.perf_counter()
    r = s.infer([2.0], [0.5])
    assert r.status_code == 504 and "0.3 s" in r.json()["error"]
    assert time.perf_counter() - t0 < 0.9  # answered at the timeout, not after the model's 1 s
    # the hung call still holds the only slot: the next request waits 0.2 s for it, then gets 503
    r = s.infer([0.5], [0.5])
    assert r.status_code == 503 and "busy" in r.json()["error"]
    time.sleep(1.0)
    assert s.infer([0.5], [0.5]).status_code == 200


def test_events_one_per_request_with_features(serve: ServeFactory) -> None:
    s = serve()
    s.infer([0.1, 0.9], [0.1, 0.9], headers={"x-request-id": "abc"})
    s.client.post("/v1/models/credit:predict", json={"instances": [{"x1": 0.2, "x2": 0.2}]})
    s.infer([0.1], [0.1], path="/v2/models/credit/versions/1/infer")
    bad = s.client.post("/v1/models/credit:predict", json={"instances": [{"x1": "?", "x2": 0.2}]})
    assert bad.status_code == 422
    events = [e for e in s.flush() if isinstance(e, InferenceEvent)]
    assert len(events) == 3  # requests refused before a model ran carry no features to monitor
    first = events[0]
    assert first.request_id == "abc" and first.model == "credit" and first.version == 1 and first.variant == "stable"
    assert first.features["x1"].tolist() == [0.1, 0.9] and first.prediction.tolist() == ["no", "yes"]  # type: ignore[union-attr]
    assert first.probabilities is not None and first.probabilities.shape == (2, 2) and first.classes == ("no", "yes")
    assert first.status == 200 and first.latency_s > 0 and first.protocol == "v2"
    assert events[1].protocol == "v1"
    orjson.dumps(first.to_dict())  # plain JSON


def test_shadow_copies_never_change_the_response(serve: ServeFactory) -> None:
    s = serve()
    s.plans.set(TrafficPlan(model="credit", stable=1, shadows=(Shadow(2, 1.0),)), actor="t")
    s.refresh()
    ids = []
    for i in range(5):
        r = s.infer([0.9], [0.1], headers={"x-request-id": f"r{i}"})
        assert r.json()["model_version"] == "1" and r.json()["parameters"]["variant"] == "stable"
        ids.append(f"r{i}")
    deadline = time.monotonic() + 5
    while (
        time.monotonic() < deadline
        and sum(isinstance(e, InferenceEvent) and e.variant == "shadow" for e in s.flush()) < 5
    ):
        time.sleep(0.05)
    events = [e for e in s.flush() if isinstance(e, InferenceEvent)]
    shadow = {e.request_id: e for e in events if e.variant == "shadow"}
    primary = {e.request_id: e for e in events if e.variant == "stable"}
    assert set(shadow) == set(primary) == set(ids)
    # v2 (Other) disagrees with v1 on this input: the caller still got v1's answer
    assert shadow["r0"].version == 2 and shadow["r0"].prediction.tolist() != primary["r0"].prediction.tolist()  # type: ignore[union-attr]


def test_full_shadow_queue_drops_and_counts(serve: ServeFactory) -> None:
    s = serve(serving={"shadow_queue": 1, "model_concurrency": 1})
    s.plans.set(TrafficPlan(model="credit", stable=1, shadows=(Shadow(4, 1.0),)), actor="t")
    s.refresh()
    for _ in range(6):  # each shadow copy of Slow sleeps 0.3 s; the queue holds one
        assert s.infer([1.3], [0.5]).status_code == 200
    assert s.client.app.state.mp.shadows.dropped >= 3  # type: ignore[attr-defined]
    assert 'modelpilot_shadow_drops_total{model="credit"}' in s.client.get("/metrics").text


def test_full_event_queue_keeps_serving_and_counts(serve: ServeFactory) -> None:
    s = serve()
    bus = s.bus
    bus.capacity = 0  # nothing fits: every event is dropped
    for _ in range(3):
        assert s.infer([0.5], [0.5]).status_code == 200
    assert bus.dropped == 3


def test_feedback_validates_everything_first(serve: ServeFactory) -> None:
    s = serve()
    ok = s.client.post("/v1/feedback", json=[{"request_id": "a", "label": "yes"}, {"request_id": "b", "label": 0}])
    assert ok.status_code == 202 and ok.json() == {"accepted": 2, "dropped": 0}
    bad = s.client.post("/v1/feedback", json=[{"request_id": "c", "label": 1}, {"request_id": "d"}])
    assert bad.status_code == 422 and "[1].label" in bad.json()["error"]
    assert s.client.post("/v1/feedback", json={"labels": []}).status_code == 422
    labels = [e for e in s.flush() if isinstance(e, LabelEvent)]
    assert [e.request_id for e in labels] == ["a", "b"]


def test_metrics_page(serve: ServeFactory) -> None:
    s = serve()
    s.infer([0.5], [0.5])
    s.infer([0.5], [0.5], path="/v2/models/credit/versions/9/infer")
    text = s.client.get("/metrics").text
    for name in (
        "modelpilot_requests_total",
        "modelpilot_request_duration_seconds_bucket",
        "modelpilot_in_flight_requests",
        "modelpilot_event_queue_depth",
        "modelpilot_build_info",
        "modelpilot_model_info",
    ):
        assert name in text
    assert 'le="0.005"' in text and 'le="2.5"' in text
    assert 'code="404"' in text


def test_openapi_describes_every_route(serve: ServeFactory) -> None:
    s = serve()
    doc = s.client.get("/openapi.json").json()
    for route in s.client.app.routes:  # type: ignore[attr-defined]
        assert route.path in doc["paths"], route.path
        for method in route.methods - {"HEAD"}:
            assert method.lower() in doc["paths"][route.path], (route.path, method)


def test_the_openapi_document_is_valid_and_every_reference_resolves(serve: ServeFactory) -> None:
    """openapi-spec-validator resolves every $ref from the document's root; every path parameter is declared."""
    from openapi_spec_validator import validate

    doc = serve().client.get("/openapi.json").json()
    validate(doc)
    for path, ops in doc["paths"].items():
        wanted = set(re.findall(r"\{(\w+)\}", path))
        for op in ops.values():
            assert {p["name"] for p in op.get("parameters", []) if p["in"] == "path"} == wanted, path


def test_a_stream_of_bad_requests_does_not_stop_good_ones(serve: ServeFactory) -> None:
    s = serve()
    junk = [b"", b"[]", b"null", b'{"inputs": 5}', b'{"inputs": [{}]}', b"\xff\xfe", b'{"inputs": [{"name": 1}]}']
    for body in junk * 5:
        r = s.client.post("/v2/models/credit/infer", content=body)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
        assert "error" in r.json()
    assert s.infer([0.5], [0.5]).status_code == 200


def test_canary_split_and_sticky_keys_through_the_server(serve: ServeFactory) -> None:
    s = serve()
    s.plans.set(TrafficPlan(model="credit", stable=1, canary=2, weight=30, sticky_header="X-User"), actor="t")
    s.refresh()
    seen = {}
    for user in range(60):
        versions = {s.infer([0.5], [0.5], headers={"x-user": f"u{user}"}).json()["model_version"] for _ in range(3)}
        assert len(versions) == 1  # the same user always meets the same version
        seen[user] = versions.pop()
    assert 0 < sum(v == "2" for v in seen.values()) < 60
    unkeyed = [s.infer([0.5], [0.5]).json()["model_version"] for _ in range(200)]
    assert 30 < unkeyed.count("2") < 90  # 30% of 200, well inside five standard deviations (6.5 each)


def test_sticky_field_uses_the_first_row(serve: ServeFactory) -> None:
    s = serve()
    s.plans.set(TrafficPlan(model="credit", stable=1, canary=2, weight=50, sticky_field="x2"), actor="t")
    s.refresh()
    for x2 in (0.11, 0.42, 0.73):
        got = {
            s.client.post("/v1/models/credit:predict", json={"instances": [{"x1": x1, "x2": x2}]}).json()[
                "model_version"
            ]
            for x1 in (0.1, 0.5, 0.9)
        }
        assert len(got) == 1


def test_feedback_with_events_off_is_refused_clearly(serve: ServeFactory) -> None:
    s = serve(events={"enabled": False})
    r = s.client.post("/v1/feedback", json=[{"request_id": "a", "label": 1}])
    assert r.status_code == 503 and "events.enabled" in r.json()["error"]
    assert s.infer([0.5], [0.5]).status_code == 200
    assert s.flush() == []


def test_unknown_output_or_long_request_id_is_refused_before_the_model_runs(serve: ServeFactory) -> None:
    s = serve()
    body = {
        "inputs": [
            {"name": "x1", "datatype": "FP64", "shape": [1], "data": [0.5]},
            {"name": "x2", "datatype": "FP64", "shape": [1], "data": [0.5]},
        ],
        "outputs": [{"name": "embedding"}],
    }
    r = s.client.post("/v2/models/credit/infer", json=body)
    assert r.status_code == 422 and "outputs[0] 'embedding'" in r.json()["error"]
    r = s.infer([0.5], [0.5], headers={"x-request-id": "x" * 300})
    assert r.status_code == 400 and "request id" in r.json()["error"] and "x-request-id" not in r.headers
    r = s.client.post(
        "/v1/models/credit:predict", json={"instances": [{"x1": 0.5, "x2": 0.5}]}, headers={"x-request-id": "y" * 300}
    )
    assert r.status_code == 400
    assert [e for e in s.flush() if isinstance(e, InferenceEvent)] == []  # nothing ran, nothing recorded


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    x1=st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=5),
    rate=st.floats(0.01, 1.0),
    protocol=st.sampled_from(["v1", "v2"]),
)
def test_property_shadow_never_changes_the_response(
    serve: ServeFactory, x1: list[float], rate: float, protocol: str
) -> None:
    s = _shadow_pair(serve)
    x2 = [1 - v for v in x1]
    bodies = []
    for plan in (
        TrafficPlan(model="credit", stable=1),
        TrafficPlan(model="credit", stable=1, shadows=(Shadow(2, rate), Shadow(4, rate))),
    ):
        s.plans.set(plan, actor="t")
        s.refresh()
        if protocol == "v2":
            r = s.infer(x1, x2, headers={"x-request-id": "same"})
        else:
            r = s.client.post(
                "/v1/models/credit:predict",
                headers={"x-request-id": "same"},
                json={"instances": [{"x1": a, "x2": b} for a, b in zip(x1, x2, strict=True)]},
            )
        assert r.status_code == 200
        bodies.append((r.content, r.headers["x-variant"], r.headers["x-model-version"]))
    assert bodies[0] == bodies[1]


_SERVED: dict[int, Any] = {}


def _shadow_pair(serve: ServeFactory) -> Any:
    # one server per test function run (Hypothesis calls the body many times with the same fixtures)
    key = id(serve)
    if key not in _SERVED:
        _SERVED.clear()
        _SERVED[key] = serve()
    return _SERVED[key]


def test_matrix_input_with_a_missing_value_names_the_column(serve: ServeFactory) -> None:
    s = serve()
    body = {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [2, 2], "data": [0.1, 0.2, 0.3, None]}]}
    r = s.client.post("/v2/models/credit/infer", json=body)
    assert r.status_code == 422 and "column 1" in r.json()["error"] and "missing" in r.json()["error"]
