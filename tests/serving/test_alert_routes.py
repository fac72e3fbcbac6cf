"""``POST /v1/alerts/alertmanager``: Alertmanager's webhook becomes SLO alert events, all or nothing."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from modelpilot.events.model import SloAlertEvent
from tests.serving.conftest import Served, ServeFactory, make_token

PATH = "/v1/alerts/alertmanager"

# One notification as Alertmanager 0.25 posts it (webhook_config with http_config.authorization): a group of two
# alerts from the rendered SLO rules, one still firing (zero endsAt) and one resolved, times with nanoseconds.
SAMPLE: dict[str, Any] = {
    "receiver": "modelpilot",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "ModelLatencyBudgetBurn",
                "category": "availability",
                "model": "credit",
                "severity": "page",
                "sloth_id": "credit-latency",
                "sloth_service": "credit",
                "sloth_slo": "latency",
            },
            "annotations": {
                "runbook": "docs/runbooks/latency.md",
                "summary": "credit latency SLO is burning its error budget 14.4x too fast",
                "title": "(page) credit latency SLO error budget burn rate is too high.",
            },
            "startsAt": "2026-11-30T02:00:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=%28slo%3Asli_error%3Aratio_rate5m%29&g0.tab=1",
            "fingerprint": "5c8f0e1d2a3b4c6d",
        },
        {
            "status": "resolved",
            "labels": {
                "alertname": "ModelAvailabilityBudgetBurn",
                "severity": "ticket",
                "sloth_id": "credit-errors",
                "sloth_service": "credit",
                "sloth_slo": "errors",
            },
            "annotations": {"summary": "credit errors SLO burn rate is back under 3x"},
            "startsAt": "2026-11-29T22:15:30.5+01:00",
            "endsAt": "2026-11-30T01:45:00.987654321Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=%28slo%3Asli_error%3Aratio_rate2h%29&g0.tab=1",
            "fingerprint": "9a0b1c2d3e4f5a6b",
        },
    ],
    "groupLabels": {"sloth_service": "credit"},
    "commonLabels": {"sloth_service": "credit"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "version": "4",
    "groupKey": '{}/{sloth_service=~".+"}:{sloth_service="credit"}',
    "truncatedAlerts": 0,
}


def _token(s: Served, role: str) -> dict[str, str]:
    secret = make_token(s.registry, f"{role}-alerts", role)
    s.refresh()
    return {"authorization": f"Bearer {secret}"}


def _alerts(s: Served) -> list[SloAlertEvent]:
    return [e for e in s.flush() if isinstance(e, SloAlertEvent)]


def test_firing_and_resolved_alerts_become_events(serve: ServeFactory) -> None:
    s = serve()
    before = time.time()
    r = s.client.post(PATH, content=orjson.dumps(SAMPLE), headers=_token(s, "operate"))
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 2, "firing": 1, "resolved": 1, "skipped": 0}
    firing, resolved = _alerts(s)
    assert before <= firing.time <= time.time()
    assert firing.alert == {
        "slo": "credit-latency",
        "model": "credit",
        "name": "latency",
        "alertname": "ModelLatencyBudgetBurn",
        "severity": "page",
        "state": "firing",
        "since": 1796004000.123456,  # nanoseconds cut to microseconds
        "until": None,  # Alertmanager's zero time
        "source": "alertmanager",
        "fingerprint": "5c8f0e1d2a3b4c6d",
        "labels": SAMPLE["alerts"][0]["labels"],
        "annotations": SAMPLE["alerts"][0]["annotations"],
    }
    assert firing.request_id == "slo/credit-latency/page/firing/1796004000.123456"
    a = resolved.alert
    assert (a["slo"], a["model"], a["name"], a["severity"], a["state"]) == (
        "credit-errors",
        "credit",
        "errors",
        "ticket",
        "resolved",
    )
    assert a["since"] == 1795986930.5  # 22:15:30.5 at +01:00 is 21:15:30.5 UTC
    assert a["until"] == pytest.approx(1796003100.987654)
    assert a["labels"] == SAMPLE["alerts"][1]["labels"] and a["annotations"] == SAMPLE["alerts"][1]["annotations"]


def test_labels_fall_back_and_other_severities_are_kept(serve: ServeFactory) -> None:
    s = serve()
    doc = {
        "version": "4",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Custom", "model": "credit", "sloth_slo": "drift", "severity": "critical"},
                "startsAt": "2026-11-30T02:00:00Z",
            }
        ],
    }
    r = s.client.post(PATH, json=doc, headers=_token(s, "admin"))  # admin includes operate
    assert r.status_code == 200, r.text
    [event] = _alerts(s)
    assert event.alert["slo"] == "credit-drift" and event.alert["severity"] == "critical"
    assert event.alert["until"] is None and event.alert["fingerprint"] is None and event.alert["annotations"] == {}


def test_needs_an_operate_token(serve: ServeFactory) -> None:
    s = serve()
    assert s.client.post(PATH, json=SAMPLE).status_code == 401
    assert s.client.post(PATH, json=SAMPLE, headers={"authorization": "Bearer mp_wrong"}).status_code == 401
    r = s.client.post(PATH, json=SAMPLE, headers=_token(s, "predict"))
    assert r.status_code == 403 and "operate" in r.json()["error"]
    assert _alerts(s) == []


def _edit(change: Callable[[dict[str, Any]], None]) -> bytes:
    doc = copy.deepcopy(SAMPLE)
    change(doc)
    return orjson.dumps(doc)


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


_DELETE = object()

# Every bad case leaves alerts[0] valid: nothing may be published even so.
_BAD: list[tuple[str, bytes, str]] = [
    ("array", b"[]", "body: expected a JSON object"),
    ("version", _edit(lambda d: _set(d, ("version",), "3")), 'version: expected "4"'),
    ("no version", _edit(lambda d: _set(d, ("version",), _DELETE)), 'version: expected "4"'),
    ("no alerts", _edit(lambda d: _set(d, ("alerts",), _DELETE)), "alerts: missing"),
    ("empty alerts", _edit(lambda d: _set(d, ("alerts",), [])), "alerts: empty"),
    ("alert not object", _edit(lambda d: d["alerts"].append("firing")), "alerts[2]: expected an object"),
    ("status", _edit(lambda d: _set(d, ("alerts", 1, "status"), "pending")), "alerts[1].status"),
    ("no status", _edit(lambda d: _set(d, ("alerts", 1, "status"), _DELETE)), "alerts[1].status: missing"),
    ("no labels", _edit(lambda d: _set(d, ("alerts", 1, "labels"), _DELETE)), "alerts[1].labels: missing"),
    (
        "no model",
        _edit(lambda d: _set(d, ("alerts", 1, "labels", "sloth_service"), _DELETE)),
        "alerts[1].labels.model: missing",
    ),
    (
        "no alertname",
        _edit(lambda d: _set(d, ("alerts", 1, "labels", "alertname"), _DELETE)),
        "alerts[1].labels.alertname: missing",
    ),
    (
        "label not string",
        _edit(lambda d: _set(d, ("alerts", 1, "labels", "severity"), 2)),
        "alerts[1].labels.severity: expected a string",
    ),
    (
        "bad startsAt",
        _edit(lambda d: _set(d, ("alerts", 1, "startsAt"), "yesterday")),
        "alerts[1].startsAt: 'yesterday' is not an RFC 3339 time",
    ),
    (
        "naive startsAt",
        _edit(lambda d: _set(d, ("alerts", 1, "startsAt"), "2026-11-30T02:00:00")),
        "alerts[1].startsAt: '2026-11-30T02:00:00' is not an RFC 3339 time (no time zone offset",
    ),
    ("no startsAt", _edit(lambda d: _set(d, ("alerts", 1, "startsAt"), _DELETE)), "alerts[1].startsAt: missing"),
    (
        "bad endsAt",
        _edit(lambda d: _set(d, ("alerts", 1, "endsAt"), 17)),
        "alerts[1].endsAt: expected an RFC 3339 time string",
    ),
]


@pytest.mark.parametrize(("body", "field"), [(b, f) for _, b, f in _BAD], ids=[i for i, _, _ in _BAD])
def test_a_bad_payload_names_the_field_and_publishes_nothing(serve: ServeFactory, body: bytes, field: str) -> None:
    s = serve()
    r = s.client.post(PATH, content=body, headers=_token(s, "operate"))
    assert r.status_code == 422, r.text
    err = r.json()
    assert err["code"] == "invalid_input" and field in err["error"], err
    assert "version" in err["hint"] and "alertname" in err["hint"]
    assert _alerts(s) == []


def test_every_problem_is_named_at_once(serve: ServeFactory) -> None:
    s = serve()

    def spoil(doc: dict[str, Any]) -> None:
        _set(doc, ("alerts", 0, "status"), "on")
        _set(doc, ("alerts", 1, "labels"), [])

    body = _edit(spoil)
    r = s.client.post(PATH, content=body, headers=_token(s, "operate"))
    assert r.status_code == 422
    problems = r.json()["details"]["problems"]
    assert [p.split(":")[0] for p in problems] == [
        "alerts[0].status",
        "alerts[1].labels",
        "alerts[1].labels.alertname",
        "alerts[1].labels.model",
    ]
    assert _alerts(s) == []


def test_not_json_is_a_bad_request(serve: ServeFactory) -> None:
    s = serve()
    r = s.client.post(PATH, content=b'{"version": "4", "alerts": [', headers=_token(s, "operate"))
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    assert _alerts(s) == []


def test_body_size_is_bounded(serve: ServeFactory) -> None:
    s = serve(serving={"max_body_bytes": 1024})
    r = s.client.post(PATH, content=orjson.dumps(SAMPLE), headers=_token(s, "operate"))
    assert r.status_code == 413 and "limit" in r.json()["error"]
    assert _alerts(s) == []


def test_events_off_is_refused_clearly(serve: ServeFactory) -> None:
    s = serve(events={"enabled": False})
    r = s.client.post(PATH, json=SAMPLE, headers=_token(s, "operate"))
    assert r.status_code == 503 and "events.enabled" in r.json()["error"]
    assert s.flush() == []


def test_a_full_event_queue_asks_alertmanager_to_retry(serve: ServeFactory) -> None:
    s = serve()
    s.bus.capacity = 0  # nothing fits
    r = s.client.post(PATH, json=SAMPLE, headers=_token(s, "operate"))
    assert r.status_code == 503 and "2 of 2 alerts were dropped" in r.json()["error"]


def test_alerts_of_other_rules_are_skipped_and_counted(serve: ServeFactory) -> None:
    s = serve()

    def add_foreign(doc: dict[str, Any]) -> None:
        doc["alerts"].append(
            {
                "status": "firing",
                "labels": {"alertname": "NodeDiskFull", "instance": "n1"},
                "startsAt": "2026-11-30T02:00:00Z",
            }
        )

    r = s.client.post(PATH, content=_edit(add_foreign), headers=_token(s, "operate"))
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 2, "firing": 1, "resolved": 1, "skipped": 1}
    assert {e.alert["alertname"] for e in _alerts(s)} == {a["labels"]["alertname"] for a in SAMPLE["alerts"]}
