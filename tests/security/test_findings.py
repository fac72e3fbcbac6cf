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
from modelpilot.serving.plan import TrafficPlan
from tests.serving.conftest import ServeFactory, home, make_token, serve  # noqa: F401  (fixtures)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit"


@pytest.fixture(scope="module")
def events_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("findings") / "home"
    reg = Registry.open(load_settings(home=where, actor="tester"))
    reg.register(
        "credit", f"{EXAMPLE / 'model.py'}:CreditModel", format="python", reference=EXAMPLE / "reference.csv",
        target="default", trust=TrustRequest(trust_code=True, reason="test"),
    )  # fmt: skip
    reg.store.close()
    return where


@pytest.fixture(scope="module")
def client(events_home: Path) -> Iterator[TestClient]:
    with TestClient(create_app(load_settings(home=events_home, actor="tester"))) as c:
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


def test_events_of_versions_without_a_profile_do_not_fill_the_label_joiner(events_home: Path) -> None:
    reg = Registry.open(load_settings(home=events_home, actor="tester"))
    svc = MonitorService(reg, MonitorSettings(tick_s=3600, snapshot_s=3600), name="findings")
    forged = [
        InferenceEvent(f"f{i}", 1.0, "nobody", 1, "stable", {"x": np.zeros(1)}, np.zeros(1), 0.0, 200)
        for i in range(50)
    ]
    svc.handle(forged)
    assert svc.joiner.stats["pending"] == 0
    reg.store.close()


def test_numbers_no_column_can_hold_are_4xx_not_500(serve: ServeFactory) -> None:  # noqa: F811
    served = serve()
    r = served.client.get(f"/v2/models/credit/versions/{'9' * 4300}/ready")
    assert r.status_code == 404 and "is not a version number" in r.json()["error"]
    token = make_token(served.registry, "ops", "admin")
    served.refresh()
    body = b'{"stable": 1, "canary": 99999999999999999999, "weight": 5, "reason": "t"}'
    r = served.client.put(
        "/v1/models/credit/traffic", content=body,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )  # fmt: skip
    assert r.status_code in (400, 422) and "canary" in r.text


def test_a_sign_in_form_with_extra_fields_is_refused_with_400(serve: ServeFactory) -> None:  # noqa: F811
    served = serve()
    form = "token=x&next=/ui&a=1&b=2&c=3&d=4"
    r = served.client.post(
        "/ui/login", content=form, headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 400


def test_an_alias_or_a_name_may_not_end_in_a_newline(events_home: Path) -> None:
    from modelpilot.errors import InvalidInputError

    reg = Registry.open(load_settings(home=events_home, actor="tester"))
    try:
        with pytest.raises(InvalidInputError, match="alias"):
            reg.set_alias("credit", "production\n", 1, reason="t")
        with pytest.raises(InvalidInputError, match="model name"):
            reg.register("credit\n", f"{EXAMPLE / 'model.py'}:CreditModel", format="python",
                         trust=TrustRequest(trust_code=True, reason="t"))  # fmt: skip
    finally:
        reg.store.close()


def test_config_show_masks_kafka_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelpilot.cli.app import main

    secret = {"sasl.password": "hunter2", "ssl.key.pem": "-----BEGIN", "security.protocol": "SASL_SSL"}
    monkeypatch.setenv("MODELPILOT_EVENTS__KAFKA__CONFIG", orjson.dumps(secret).decode())
    monkeypatch.setenv("MODELPILOT_STORE", "postgresql://mp:s3cret@localhost/mp")
    assert main(["--home", str(tmp_path / "h"), "config", "show"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and "BEGIN" not in out and "s3cret" not in out
    shown = orjson.loads(out)
    assert shown["events"]["kafka"]["config"] == {"sasl.password": "***", "ssl.key.pem": "***",
                                                  "security.protocol": "SASL_SSL"}  # fmt: skip


def test_readiness_tells_anonymous_callers_only_up_or_down(serve: ServeFactory) -> None:  # noqa: F811
    served = serve()
    token = make_token(served.registry, "ops", "operate")
    served.refresh()
    table = served.client.app.state.mp.table  # type: ignore[attr-defined]
    table.errors = {"fraud": "OSError: /srv/models/fraud/artifact sha256:0123abcd could not be read"}  # a failed load
    anonymous = served.client.get("/v2/health/ready")
    assert anonymous.status_code == 503 and anonymous.json() == {"ready": False}
    operator = served.client.get("/v2/health/ready", headers={"authorization": f"Bearer {token}"})
    assert operator.status_code == 503 and "/srv/models" in operator.json()["failed"]["fraud"]


def test_date_times_nanoseconds_cannot_hold_are_refused() -> None:
    from modelpilot.errors import InvalidInputError
    from modelpilot.protocol.signature import Feature
    from modelpilot.serving.inputs import column_for

    when = Feature(name="when", type="datetime")
    assert column_for(when, ["2026-11-22T10:00:00"], "inputs.when")[0] == np.datetime64("2026-11-22T10:00:00")
    for bad in (["99999-01-01"], [2**63], ["1500-01-01"]):
        with pytest.raises(InvalidInputError, match="between 1678 and 2262"):
            column_for(when, bad, "inputs.when")


def test_the_alertmanager_answer_stays_small_whatever_the_request_holds(serve: ServeFactory) -> None:  # noqa: F811
    served = serve()
    token = make_token(served.registry, "ops", "operate")
    served.refresh()
    bad = {"receiver": "x", "status": "firing", "alerts": [{"labels": "x" * 50, "status": "?"} for _ in range(5_000)]}
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    r = served.client.post("/v1/alerts/alertmanager", content=orjson.dumps(bad), headers=headers)
    assert r.status_code == 422
    assert len(r.content) < 64_000
    assert r.json()["details"]["total"] >= 5_000


@pytest.mark.parametrize("path", ["/v1/feedback", "/v2/models/credit/infer", "/v1/models/credit:predict", "/v1/events"])
@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_what_a_page_of_another_site_can_send_is_refused(serve: ServeFactory, path: str, ctype: str) -> None:  # noqa: F811
    """A browser sends forms and plain text across sites without asking the server first: JSON routes refuse
    those Content-Types (415), so a page elsewhere cannot post labels or predictions to a loopback server."""
    served = serve()
    r = served.client.post(path, content=b'[{"request_id": "r", "label": 1}]', headers={"content-type": ctype})
    assert r.status_code == 415, r.text
    assert "application/json" in r.json()["hint"]


def test_a_request_from_another_sites_page_is_refused(serve: ServeFactory) -> None:  # noqa: F811
    served = serve()
    body = b'[{"request_id": "r", "label": 1}]'
    json = {"content-type": "application/json"}
    other = served.client.post("/v1/feedback", content=body, headers={**json, "origin": "https://evil.example"})
    assert other.status_code == 403 and "another site" in other.json()["error"]
    same = served.client.post("/v1/feedback", content=body, headers={**json, "origin": "http://testserver"})
    assert same.status_code == 202, same.text
    assert served.client.post("/v1/feedback", content=body).status_code == 202  # a client that names no type


def test_events_may_not_claim_a_role_the_plan_does_not_give(serve: ServeFactory) -> None:  # noqa: F811
    """Canary evidence drives rollouts: an event from outside may not name a canary (or shadow, or fallback) that
    the plan does not have. The plan here serves credit v1 as stable only."""
    served = serve()
    for variant in ("canary", "shadow", "fallback"):
        r = _post(served.client, _event(variant=variant, features={"x1": [0.5], "x2": [0.1]}))
        assert r.status_code == 422, r.text
        assert f"variant {variant!r} for credit v1, which plays 'stable'" in r.json()["error"]
    ok = _post(served.client, _event(variant="stable", features={"x1": [0.5], "x2": [0.1]}))
    assert ok.status_code == 202, ok.text


def test_cloudevents_http_binding_header_values_are_percent_decoded_and_the_version_checked() -> None:
    """From the CloudEvents HTTP binding: header values are percent-encoded (a space is %20, a non-ASCII
    character its UTF-8 bytes), and only specversion 1.0 is read."""
    from modelpilot.errors import InvalidInputError
    from modelpilot.events.cloudevents import parse_http

    headers = {"ce-id": "r%201", "ce-type": "io.modelpilot.label", "ce-specversion": "1.0",
               "ce-source": "/orders/%E2%82%AC", "content-type": "application/json"}  # fmt: skip
    (ce,) = parse_http(headers, b'{"request_id": "r 1", "label": 1}')
    assert ce.id == "r 1" and ce.attributes["source"] == "/orders/€"
    with pytest.raises(InvalidInputError, match=r"ce-specversion: '0\.3'"):
        parse_http({**headers, "ce-specversion": "0.3"}, b"{}")
    structured = {"content-type": "application/cloudevents+json"}
    with pytest.raises(InvalidInputError, match=r"body\.specversion: '2\.0'"):
        parse_http(structured, b'{"specversion": "2.0", "id": "x", "type": "t", "data": {}}')


def test_a_canary_event_for_the_plans_canary_is_accepted(serve: ServeFactory) -> None:  # noqa: F811
    served = serve()
    served.plans.set(TrafficPlan(model="credit", stable=1, canary=2, weight=10), actor="t")
    served.refresh()
    ok = _post(served.client, _event(version=2, variant="canary", features={"x1": [0.5], "x2": [0.1]}))
    assert ok.status_code == 202, ok.text
    wrong = _post(served.client, _event(version=1, variant="canary", features={"x1": [0.5], "x2": [0.1]}))
    assert wrong.status_code == 422 and "plays 'stable'" in wrong.json()["error"]


def test_metrics_can_require_a_token(serve: ServeFactory) -> None:  # noqa: F811
    open_server = serve()
    assert open_server.client.get("/metrics").status_code == 200  # the default: open
    served = serve(auth={"metrics_required": True})
    token = make_token(served.registry, "prometheus", "predict")
    served.refresh()
    assert served.client.get("/metrics").status_code == 401
    r = served.client.get("/metrics", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200 and "modelpilot_requests_total" in r.text


def test_predictions_waiting_for_labels_are_bounded_in_bytes_too() -> None:
    """A request may hold 10,000 rows: a count bound alone would let 100,000 of them hold gigabytes. The joiner
    also bounds their bytes, evicts the oldest beyond it, counts them, and keeps its tally exact through joins,
    evictions and a restore."""
    from modelpilot.monitoring.performance.journal import changes
    from modelpilot.monitoring.performance.labels import LabelJoiner

    def recount(j: LabelJoiner) -> int:
        return sum(
            p.prediction.nbytes + (0 if p.probabilities is None else p.probabilities.nbytes) + 400
            for ps in j._pending.values()
            for p in ps
        )

    j = LabelJoiner(max_pending_bytes=1024 * 1024, clock=lambda: 0.0)
    big = np.zeros(10_000, dtype=np.int64), np.zeros((10_000, 2))
    for i in range(6):
        j.add_prediction(f"big-{i}", "credit", 1, "stable", 0.0, *big)
    assert j.pending < 6 and j.stats["evicted"] == 6 - j.pending
    assert j.pending_bytes == recount(j) <= 1024 * 1024
    j.add_prediction("small", "credit", 1, "stable", 0.0, np.array([1]), np.array([[0.2, 0.8]]))
    joined = j.add_label("small", 1, 1.0)
    assert len(joined) == 1 and j.pending_bytes == recount(j)
    back = LabelJoiner.from_state(j.to_state(), clock=lambda: 0.0)
    assert back.pending_bytes == j.pending_bytes and back.max_pending_bytes == 1024 * 1024
    stored = LabelJoiner(clock=lambda: 0.0).journaled()  # the store's way: segment rows, loaded at restart
    stored.add_prediction("big", "credit", 1, "stable", 0.0, *big)
    change = changes(stored, stored.journal.take() if stored.journal else {})
    assert change.segment is not None
    again = LabelJoiner(clock=lambda: 0.0).journaled().load([change.segment])
    assert again.pending_bytes == stored.pending_bytes == recount(stored) > 240_000


def test_a_method_not_allowed_says_which_are(serve: ServeFactory) -> None:  # noqa: F811
    r = serve().client.request("TRACE", "/v2/models/credit/infer")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_labels_and_events_need_the_ingest_grant_not_predict(serve: ServeFactory) -> None:  # noqa: F811
    served = serve(auth={"inference_required": True})
    predict = make_token(served.registry, "app", "predict")
    ingest = make_token(served.registry, "labels", "ingest")
    served.refresh()
    body = b'[{"request_id": "r", "label": 1}]'

    def post(path: str, token: str, content: bytes = body, ctype: str = "application/json") -> int:
        headers = {"authorization": f"Bearer {token}", "content-type": ctype}
        return served.client.post(path, content=content, headers=headers).status_code

    event = orjson.dumps(_event(features={"x1": [0.5], "x2": [0.1]}))
    assert post("/v1/feedback", predict) == 403
    assert post("/v1/events", predict, event, "application/cloudevents+json") == 403
    assert post("/v1/feedback", ingest) == 202
    assert post("/v1/events", ingest, event, "application/cloudevents+json") == 202
    tensors = [{"name": n, "datatype": "FP64", "shape": [1], "data": [0.5]} for n in ("x1", "x2")]
    infer = orjson.dumps({"inputs": tensors})
    assert post("/v2/models/credit/infer", ingest, infer) == 403
    assert post("/v2/models/credit/infer", predict, infer) == 200


def _kserve_pair(rid: str, **extra: str) -> list[tuple[dict[str, str], bytes]]:
    base = {"ce-id": rid, "ce-specversion": "1.0", "ce-source": "kserve", "ce-inferenceservicename": "credit", **extra}
    rows = orjson.dumps({"instances": [{"x1": 0.5, "x2": 0.1}]})
    return [
        ({**base, "ce-type": "org.kubeflow.serving.inference.request", "content-type": "application/json"}, rows),
        ({**base, "ce-type": "org.kubeflow.serving.inference.response", "content-type": "application/json"},
         orjson.dumps({"predictions": [1]})),
    ]  # fmt: skip


def test_kserve_pairs_meet_the_same_checks_as_modelpilots_own_events(serve: ServeFactory) -> None:  # noqa: F811
    served = serve()
    codes = [served.client.post("/v1/events", content=b, headers=h).status_code for h, b in _kserve_pair("ok")]
    assert codes == [202, 202]
    request, response = _kserve_pair("v99", **{"ce-modelversion": "99"})
    assert served.client.post("/v1/events", content=request[1], headers=request[0]).status_code == 202
    refused = served.client.post("/v1/events", content=response[1], headers=response[0])
    assert refused.status_code == 404 and "has no version 99" in refused.json()["error"]
    long_id = _kserve_pair("r" * 300)
    served.client.post("/v1/events", content=long_id[0][1], headers=long_id[0][0])
    r = served.client.post("/v1/events", content=long_id[1][1], headers=long_id[1][0])
    assert r.status_code == 422 and "event id: 300 characters" in r.json()["error"]


def test_kserve_binary_events_are_read_whatever_content_type_the_logger_copied(serve: ServeFactory) -> None:  # noqa: F811
    served = serve()
    for headers, body in _kserve_pair("form"):
        headers["content-type"] = "application/x-www-form-urlencoded"  # the logged request's own type
        assert served.client.post("/v1/events", content=body, headers=headers).status_code == 202


def test_feedback_applies_the_bounds_every_label_reader_applies(serve: ServeFactory) -> None:  # noqa: F811
    served = serve()
    for item in ({"request_id": "r", "label": "x" * 300}, {"request_id": "r", "label": 1, "model": "m" * 300}):
        r = served.client.post(
            "/v1/feedback", content=orjson.dumps([item]), headers={"content-type": "application/json"}
        )
        assert r.status_code == 422, r.text


def test_events_the_server_makes_read_back_and_a_bad_one_costs_only_itself(tmp_path: Path) -> None:
    from modelpilot.events.journal import decode_batch, encode_batch

    long_name = "f" * 300  # signatures put no bound on feature names
    good = InferenceEvent("r1", 1.0, "credit", 1, "stable", {long_name: np.zeros(1)}, np.array(["a"], dtype=object),
                          0.0, 200, probabilities=np.array([[0.4, 0.6]]), classes=("a", None))  # fmt: skip
    bad = InferenceEvent("r2", 1.0, "credit", 0, "stable", {"x": np.zeros(1)}, np.zeros(1), 0.0, 200)  # version 0
    back = decode_batch(encode_batch([good, bad, good]))
    assert [e.request_id for e in back] == ["r1", "r1"]
    assert isinstance(back[0], InferenceEvent) and list(back[0].features) == [long_name]
    assert back[0].classes == ("a", None)


def test_waiting_object_predictions_count_their_text(events_home: Path) -> None:
    from modelpilot.monitoring.performance.labels import LabelJoiner

    j = LabelJoiner(clock=lambda: 0.0)
    j.add_prediction("r", "credit", 1, "stable", 0.0, np.array(["y" * 10_000], dtype=object), None, ("y" * 10_000,))
    assert j.pending_bytes > 20_000
    reg = Registry.open(load_settings(home=events_home, actor="tester"))
    small = MonitorSettings(tick_s=3600, snapshot_s=3600, max_pending_labels=7, max_pending_label_bytes=2**21)
    first = MonitorService(reg, MonitorSettings(tick_s=3600, snapshot_s=3600), name="bounds")
    first.snapshot()
    again = MonitorService(reg, small, name="bounds")
    assert again.restore()
    assert (again.joiner.max_pending, again.joiner.max_pending_bytes) == (7, 2**21)  # today's settings win
    reg.store.close()
