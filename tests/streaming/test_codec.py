"""Request and reply messages, and dead-letter headers, without a broker: parsing both protocols, the request id's
precedence, sticky keys as the HTTP routes take them, the reply shapes, and errors that name the field."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelpilot.errors import (
    BadRequestError,
    InvalidInputError,
    ModelError,
    ModelPilotError,
    ModelTimeoutError,
    NotFoundError,
    PayloadTooLargeError,
    UnavailableError,
)
from modelpilot.protocol.oip import INFERENCE_HEADER
from modelpilot.protocol.signature import Feature, Signature
from modelpilot.serving.infer import Outcome, checked_request_id
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.runner import Prediction
from modelpilot.streaming.codec import (
    REQUEST_ID_HEADER,
    StreamRequest,
    check_outputs,
    encode_reply,
    header,
    parse_request,
    request_batch,
    request_id_for,
    sticky_key,
)
from modelpilot.streaming.deadletter import KINDS, error_headers, kind_of, reason_of

SIG = Signature(features=[Feature(name="x1", type="float"), Feature(name="x2", type="float")])


def oip(x1: list[float], x2: list[float], **extra: Any) -> bytes:
    inputs = [
        {"name": "x1", "datatype": "FP64", "shape": [len(x1)], "data": x1},
        {"name": "x2", "datatype": "FP64", "shape": [len(x2)], "data": x2},
    ]
    return orjson.dumps({"inputs": inputs, **extra})


def outcome(fallback: str | None = None) -> Outcome:
    prediction = Prediction(np.array(["no", "yes"], dtype=object), np.array([[0.9, 0.1], [0.2, 0.8]]), ("no", "yes"))
    return Outcome(prediction, 2, "canary", fallback, "r-1")


def test_oip_request_is_parsed_with_its_id_and_batch() -> None:
    req = parse_request(oip([0.1, 0.9], [0.2, 0.8], id="r-1"), None)
    assert (req.protocol, req.request_id) == ("v2", "r-1")
    batch = request_batch(req, SIG, max_rows=None)
    assert batch["x1"].tolist() == [0.1, 0.9] and batch["x2"].tolist() == [0.2, 0.8]


def test_v1_records_are_parsed_and_an_optional_id_is_taken() -> None:
    req = parse_request(b'{"instances": [{"x1": 1, "x2": 0.5}], "id": "r-9"}', None)
    assert (req.protocol, req.request_id) == ("v1", "r-9")
    assert request_batch(req, SIG, max_rows=None)["x1"].tolist() == [1.0]


def test_binary_oip_request_with_the_length_header() -> None:
    data = struct.pack("<2d", 0.25, 0.75)
    head = orjson.dumps(
        {
            "inputs": [
                {"name": "x1", "datatype": "FP64", "shape": [2], "parameters": {"binary_data_size": 16}},
                {"name": "x2", "datatype": "FP64", "shape": [2], "parameters": {"binary_data_size": 16}},
            ]
        }
    )
    req = parse_request(head + data + data, [(INFERENCE_HEADER, str(len(head)).encode())])
    assert request_batch(req, SIG, max_rows=None)["x2"].tolist() == [0.25, 0.75]


@pytest.mark.parametrize(
    ("value", "error", "needle"),
    [
        (b"\x00garbage", BadRequestError, "not valid JSON"),
        (b"[1, 2]", BadRequestError, "expected a JSON object"),
        (b'{"rows": []}', BadRequestError, '"inputs" (OIP v2) or "instances"'),
        (b'{"inputs": 3}', BadRequestError, "inputs: expected a list"),
        (b'{"instances": [], "model": "x"}', InvalidInputError, "unknown field(s) ['model']"),
        (b'{"instances": [], "id": 7}', InvalidInputError, "id: expected a string"),
        (orjson.dumps({"instances": [], "id": "x" * 300}), InvalidInputError, "request id: 300 characters"),
        (orjson.dumps({"instances": [], "id": "has space"}), InvalidInputError, "request id: only printable"),
    ],
)
def test_unreadable_and_wrong_messages_name_the_problem(value: bytes, error: type[Exception], needle: str) -> None:
    with pytest.raises(error) as info:
        parse_request(value, None)
    assert type(info.value) is error and needle in str(info.value)


def test_a_message_over_the_body_limit_is_refused() -> None:
    with pytest.raises(PayloadTooLargeError, match="more than the limit of 10"):
        parse_request(oip([0.1], [0.2]), None, max_bytes=10)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"inputs": [{"name": "x1", "datatype": "FP64", "shape": [1], "data": [1]},'
         b' {"name": "x3", "datatype": "FP64", "shape": [1], "data": [1]}]}', "unknown input(s) ['x3']"),
        (b'{"instances": [{"x1": 0.1, "x3": 0.2}]}', "instances[0]: unknown feature(s) ['x3']"),
        (b'{"instances": [{"x1": 0.1, "x2": "high"}]}', "instances[*].x2: 'high' at row 0 is not a number"),
    ],
)  # fmt: skip
def test_wrong_inputs_name_the_field(body: bytes, needle: str) -> None:
    req = parse_request(body, None)
    with pytest.raises(InvalidInputError) as info:
        request_batch(req, SIG, max_rows=None)
    assert needle in info.value.message


def test_requested_outputs_are_checked_before_the_model_runs() -> None:
    req = parse_request(oip([0.1], [0.2], outputs=[{"name": "score"}]), None)
    with pytest.raises(InvalidInputError, match=r"outputs\[0\] 'score'"):
        check_outputs(req, ("no", "yes"))
    check_outputs(parse_request(oip([0.1], [0.2], outputs=[{"name": "predict_proba"}]), None), ("no", "yes"))


def test_request_id_comes_from_the_body_then_the_key_then_is_made_up() -> None:
    with_id, without = StreamRequest("v2", "body-id"), StreamRequest("v2", None)
    assert request_id_for(with_id, b"key-1") == "body-id"
    assert request_id_for(without, b"key-1") == "key-1"
    for key in (None, b"", b"\xff\xfe", b"has space", b"k" * 300):
        made = request_id_for(without, key)
        assert len(made) == 32 and int(made, 16) >= 0


@given(st.binary(max_size=300))
def test_any_key_gives_a_valid_request_id(key: bytes) -> None:
    assert checked_request_id(request_id_for(StreamRequest("v1", None), key))


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_fail_with_a_deliberate_error(value: bytes) -> None:
    failure: ModelPilotError | None = None
    try:
        parse_request(value, None)
    except ModelPilotError as exc:  # anything else would be a bug (and an "internal" dead letter)
        failure = exc
    assert failure is None or kind_of(failure) in ("parse", "invalid_input")


def test_headers_are_matched_without_case() -> None:
    assert header([("a", b"1"), ("X-User", b"u-7")], "x-user") == b"u-7"
    assert header([("a", b"1")], "x-user") is None and header(None, "a") is None


def test_sticky_keys_are_taken_as_the_http_routes_take_them() -> None:
    by_header = TrafficPlan(model="m", stable=1, canary=2, weight=50, sticky_header="X-User")
    by_field = TrafficPlan(model="m", stable=1, canary=2, weight=50, sticky_field="x1")
    v2 = parse_request(oip([31.0, 5.0], [0.1, 0.1]), None)
    v1 = parse_request(b'{"instances": [{"x1": 31.5, "x2": 0.1}]}', None)
    assert sticky_key(by_header, v2, [("x-user", b"u-7")]) == "u-7"
    assert sticky_key(by_header, v1, None) is None
    assert sticky_key(by_field, v2, None) == "31"  # the OIP route's sticky_text
    assert sticky_key(by_field, v1, None) == "31.5"  # the v1 route's str()
    assert sticky_key(TrafficPlan(model="m", stable=1), v2, [("x-user", b"u")]) is None


def test_v1_reply_is_the_routes_body_with_the_request_id() -> None:
    req = parse_request(b'{"instances": [{"x1": 1, "x2": 1}, {"x1": 0, "x2": 0}]}', None)
    value, headers = encode_reply(req, outcome(), "credit")
    assert orjson.loads(value) == {
        "predictions": ["no", "yes"],
        "probabilities": [[0.9, 0.1], [0.2, 0.8]],
        "classes": ["no", "yes"],
        "model_version": "2",
        "variant": "canary",
        "request_id": "r-1",
    }
    assert dict(headers)[REQUEST_ID_HEADER] == b"r-1" and dict(headers)["modelpilot-variant"] == b"canary"


def test_oip_reply_carries_the_id_and_the_fallback_reason() -> None:
    req = parse_request(oip([1.0, 0.0], [1.0, 0.0]), None)
    value, headers = encode_reply(req, outcome("error"), "credit")
    doc = orjson.loads(value)
    assert (doc["id"], doc["model_name"], doc["model_version"]) == ("r-1", "credit", "2")
    assert doc["parameters"] == {"variant": "canary", "fallback_reason": "error"}
    assert [o["name"] for o in doc["outputs"]] == ["predict", "predict_proba"]
    assert dict(headers)["content-type"] == b"application/json"


def test_oip_reply_in_binary_when_asked() -> None:
    req = parse_request(oip([1.0], [1.0], parameters={"binary_data_output": True}), None)
    value, headers = encode_reply(req, outcome(), "credit")
    length = int(dict(headers)[INFERENCE_HEADER.lower()])
    assert orjson.loads(value[:length])["outputs"][1]["parameters"]["binary_data_size"] == 32
    assert dict(headers)["content-type"] == b"application/octet-stream"


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (BadRequestError("body: not valid JSON"), "parse"),
        (InvalidInputError("inputs: unknown input(s) ['x3']"), "invalid_input"),
        (PayloadTooLargeError("too many rows"), "invalid_input"),
        (NotFoundError("model 'fraud' is not served here"), "unknown_model"),
        (ModelError("model 'credit' v3 failed: RuntimeError"), "model_error"),
        (ModelTimeoutError("did not answer within 1 s"), "model_timeout"),
        (UnavailableError("busy"), "unavailable"),
        (RuntimeError("bug"), "internal"),
    ],
)
def test_each_error_has_its_kind(exc: Exception, kind: str) -> None:
    assert kind_of(exc) == kind and kind in KINDS


def test_dead_letter_headers_keep_the_requests_own_and_say_why_and_where() -> None:
    exc = InvalidInputError("instances[0]: unknown feature(s) ['x3']", hint="the model's features are ['x1', 'x2']")
    original = [("trace", b"t-1"), ("modelpilot-error", b"an older reason"), ("modelpilot-source-offset", b"3")]
    headers = error_headers(original, exc, topic="requests", partition=2, offset=41)
    assert headers == [
        ("trace", b"t-1"),
        ("modelpilot-error", b"instances[0]: unknown feature(s) ['x3']"),
        ("modelpilot-error-kind", b"invalid_input"),
        ("modelpilot-error-hint", b"the model's features are ['x1', 'x2']"),
        ("modelpilot-source-topic", b"requests"),
        ("modelpilot-source-partition", b"2"),
        ("modelpilot-source-offset", b"41"),
    ]


def test_an_unexpected_errors_text_stays_in_the_log() -> None:
    assert "postgres://secret" not in reason_of(RuntimeError("postgres://secret"))
