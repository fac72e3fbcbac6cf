"""``POST /v1/alerts/alertmanager``: Prometheus Alertmanager's webhook, so that when Prometheus evaluates the
rendered SLO rules (the scaled-out shape) its alerts drive the controller exactly as the in-process evaluator's do.

Alertmanager sends one notification per alert group (webhook payload version ``"4"``), with the token of a role
``operate`` (or higher) in ``http_config.authorization``::

    {"version": "4", "status": "firing", "receiver": "modelpilot", "groupKey": "{}:{alertname=...}",
     "groupLabels": {...}, "commonLabels": {...}, "commonAnnotations": {...}, "externalURL": "http://am:9093",
     "alerts": [{"status": "firing", "labels": {"alertname": "ModelLatencyBudgetBurn", "model": "credit",
                 "sloth_id": "credit-latency", "sloth_slo": "latency", "severity": "page"},
                 "annotations": {"summary": "..."}, "startsAt": "2026-11-30T02:00:00.123456789Z",
                 "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom:9090/graph?...",
                 "fingerprint": "5c8f0e1d2a3b4c6d"}]}

Each alert becomes one :class:`~modelpilot.events.model.SloAlertEvent` on the server's event bus. The whole payload
is checked before anything is published (alerts of other rules, without ``sloth_id``, ``slo`` or ``sloth_slo``
labels, are skipped and counted): one bad alert refuses the notification (422 naming every bad field, e.g.
``alerts[2].labels.model: missing``) and none of its alerts is published. A payload that is not JSON at all is a
400, as on every other route. The answer is ``{"accepted": n, "firing": k, "resolved": r, "skipped": s}``. If the
event queue is full and an alert is dropped, the answer is 503 so that Alertmanager sends the notification again
(each event's ``request_id`` is stable for one transition, so a repeat can be recognised).

Example:
    >>> doc = {"version": "4", "alerts": [{"status": "resolved", "startsAt": "2026-11-30T02:00:00.5Z",
    ...     "endsAt": "2026-11-30T03:00:00Z", "fingerprint": "ab12",
    ...     "labels": {"alertname": "ModelAvailabilityBudgetBurn", "sloth_service": "credit", "sloth_slo": "errors",
    ...                "sloth_id": "credit-errors", "severity": "ticket"}}]}
    >>> [event] = parse_alertmanager(doc, now=1.0)
    >>> a = event.alert
    >>> a["slo"], a["model"], a["name"], a["severity"], a["state"], a["since"], a["until"], a["source"]
    ('credit-errors', 'credit', 'errors', 'ticket', 'resolved', 1796004000.5, 1796007600.0, 'alertmanager')
    >>> try:
    ...     parse_alertmanager({"version": "4", "alerts": [{"status": "on", "labels": {"slo": "x"}}]}, now=1.0)
    ... except InvalidInputError as exc:
    ...     for problem in exc.details["problems"]:
    ...         print(problem)
    alerts[0].status: expected "firing" or "resolved", got 'on'
    alerts[0].labels.alertname: missing
    alerts[0].labels.model: missing (set the label model or sloth_service)
    alerts[0].startsAt: missing
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelpilot.auth import Role
from modelpilot.errors import InvalidInputError, UnavailableError
from modelpilot.events.model import SloAlertEvent
from modelpilot.serving.context import ServerContext, require
from modelpilot.serving.http import error_response, json_response, read_json

__all__ = ["WEBHOOK_SCHEMA", "alert_routes", "parse_alertmanager", "parse_rfc3339"]

WEBHOOK_VERSION = "4"
"""The only Alertmanager webhook payload version understood (the one every Alertmanager release since 0.10 sends)."""

_STATES = ("firing", "resolved")
_FRACTION = re.compile(r"(\.\d{6})\d+")  # Go prints nanoseconds; datetime holds microseconds
_MAX_LISTED = 20  # problems named in the message
_MAX_DETAILS = 100  # problems in the details (each cut at 200 characters); "total" counts them all

_HINT = (
    f'send Alertmanager\'s webhook payload (version "{WEBHOOK_VERSION}") with a non-empty alerts list; each alert '
    "needs status firing or resolved, string labels with alertname and model (or sloth_service), and an RFC 3339 "
    "startsAt"
)

WEBHOOK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "alerts"],
    "properties": {
        "version": {"const": WEBHOOK_VERSION},
        "status": {"enum": list(_STATES)},
        "receiver": {"type": "string"},
        "groupKey": {"type": "string"},
        "groupLabels": {"type": "object"},
        "commonLabels": {"type": "object"},
        "commonAnnotations": {"type": "object"},
        "externalURL": {"type": "string"},
        "alerts": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["status", "labels", "startsAt"],
                "properties": {
                    "status": {"enum": list(_STATES)},
                    "labels": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "alertname and model (or sloth_service) are required; sloth_id (or slo), "
                        "sloth_slo and severity are used when present",
                    },
                    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                    "startsAt": {"type": "string", "format": "date-time"},
                    "endsAt": {"type": "string", "description": "RFC 3339; 0001-01-01T00:00:00Z when unknown"},
                    "generatorURL": {"type": "string"},
                    "fingerprint": {"type": "string"},
                },
            },
        },
    },
}
"""The request body, for the OpenAPI document."""


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 time with its offset; fractions finer than a microsecond are cut off.

    >>> parse_rfc3339("2026-11-30T02:00:00.123456789Z").isoformat()
    '2026-11-30T02:00:00.123456+00:00'
    >>> parse_rfc3339("2026-11-30T02:00:00")
    Traceback (most recent call last):
    ...
    ValueError: no time zone offset (end with Z or +HH:MM)
    """
    moment = datetime.fromisoformat(_FRACTION.sub(r"\1", text.strip(), count=1))
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("no time zone offset (end with Z or +HH:MM)")
    return moment


class _Problems:
    """Every problem found in one payload, each as ``path: what is wrong``."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self.total = 0

    def add(self, path: str, what: str) -> None:
        self.total += 1
        if len(self.found) < _MAX_DETAILS:  # the answer stays small whatever the request held
            self.found.append(f"{path[:200]}: {what[:200]}")

    def raise_any(self) -> None:
        if not self.found:
            return
        listed = "; ".join(self.found[:_MAX_LISTED])
        more = self.total - _MAX_LISTED
        raise InvalidInputError(
            f"invalid Alertmanager payload: {listed}" + (f"; and {more} more" if more > 0 else ""),
            hint=_HINT,
            details={"problems": self.found, "total": self.total},
        )


def _strings(value: Any, path: str, problems: _Problems) -> dict[str, str]:
    """A label or annotation set: an object of strings (missing means empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.add(path, f"expected an object, got {type(value).__name__}")
        return {}
    out: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, str):
            out[str(key)] = item
        else:
            problems.add(f"{path}.{key}", f"expected a string, got {type(item).__name__}")
    return out


def _time(value: Any, path: str, problems: _Problems, *, required: bool) -> float | None:
    """Epoch seconds of an RFC 3339 field; None when absent (or Go's zero time) and allowed to be."""
    if value is None or value == "":
        if required:
            problems.add(path, "missing")
        return None
    if not isinstance(value, str):
        problems.add(path, f"expected an RFC 3339 time string, got {type(value).__name__}")
        return None
    try:
        moment = parse_rfc3339(value)
    except ValueError as exc:
        problems.add(path, f"{value!r} is not an RFC 3339 time ({exc})")
        return None
    if moment.year == 1:  # 0001-01-01T00:00:00Z: Go's zero time, Alertmanager's "not known"
        if required:
            problems.add(path, f"{value!r} is the zero time")
        return None
    return moment.timestamp()


_NOT_AN_SLO = SloAlertEvent({}, 0.0)
"""What :func:`_alert` returns for a well-formed alert without SLO labels (``sloth_id``, ``slo`` or ``sloth_slo``)."""


def _alert(doc: Any, path: str, problems: _Problems, now: float) -> SloAlertEvent | None:
    """One alert of the payload as an event; None (and problems noted) when it is malformed; :data:`_NOT_AN_SLO`
    for an alert of another rule."""
    if not isinstance(doc, Mapping):
        problems.add(path, f"expected an object, got {type(doc).__name__}")
        return None
    before = problems.total
    state = doc.get("status")
    if state not in _STATES:
        problems.add(
            f"{path}.status", "missing" if state is None else f'expected "firing" or "resolved", got {state!r}'
        )
    if "labels" not in doc or doc["labels"] is None:
        problems.add(f"{path}.labels", "missing")
    labels = _strings(doc.get("labels"), f"{path}.labels", problems)
    annotations = _strings(doc.get("annotations"), f"{path}.annotations", problems)
    if not labels.get("alertname"):
        problems.add(f"{path}.labels.alertname", "missing")
    if isinstance(doc.get("labels"), Mapping) and not any(labels.get(k) for k in ("sloth_id", "slo", "sloth_slo")):
        return _NOT_AN_SLO  # another rule's alert routed here: not for the controller, skipped (and counted)
    model = labels.get("model") or labels.get("sloth_service")
    if not model:
        problems.add(f"{path}.labels.model", "missing (set the label model or sloth_service)")
    since = _time(doc.get("startsAt"), f"{path}.startsAt", problems, required=True)
    until = _time(doc.get("endsAt"), f"{path}.endsAt", problems, required=False)
    fingerprint = doc.get("fingerprint")
    if fingerprint is not None and not isinstance(fingerprint, str):
        problems.add(f"{path}.fingerprint", f"expected a string, got {type(fingerprint).__name__}")
    if problems.total > before:
        return None
    name = labels.get("sloth_slo")
    slo = labels.get("sloth_id") or labels.get("slo") or (f"{model}-{name}" if name else None)
    alert: dict[str, Any] = {
        "slo": slo,
        "model": model,
        "name": name,
        "alertname": labels["alertname"],
        "severity": labels.get("severity"),
        "state": state,
        "since": since,
        "until": until,
        "source": "alertmanager",
        "fingerprint": fingerprint,
        "labels": labels,
        "annotations": annotations,
    }
    return SloAlertEvent(alert, now)


def parse_alertmanager(doc: Any, *, now: float) -> list[SloAlertEvent]:
    """Every SLO alert of one webhook payload as an event at ``now`` (alerts without SLO labels are left out);
    InvalidInputError naming every bad field."""
    problems = _Problems()
    if not isinstance(doc, Mapping):
        problems.add("body", f"expected a JSON object, got {type(doc).__name__}")
        problems.raise_any()
        return []  # pragma: no cover - raise_any raised
    version = doc.get("version")
    if version != WEBHOOK_VERSION:
        got = "missing" if version is None else f"got {version!r}"
        problems.add("version", f'expected "{WEBHOOK_VERSION}" (the only webhook version understood), {got}')
    alerts = doc.get("alerts")
    events: list[SloAlertEvent] = []
    if not isinstance(alerts, list):
        problems.add("alerts", "missing" if alerts is None else f"expected a list, got {type(alerts).__name__}")
    elif not alerts:
        problems.add("alerts", "empty (a notification carries at least one alert)")
    else:
        for i, item in enumerate(alerts):
            event = _alert(item, f"alerts[{i}]", problems, now)
            if event is not None and event is not _NOT_AN_SLO:
                events.append(event)
    problems.raise_any()
    return events


async def alertmanager(request: Request) -> Response:
    """Accept one Alertmanager webhook notification: each alert becomes an SLO alert event for the controller."""
    try:
        require(request, Role.operate)
        ctx: ServerContext = request.app.state.mp
        bus = ctx.bus
        if bus is None:
            raise UnavailableError(
                "alerts cannot be recorded: this server's event stream is off (events.enabled=false)",
                hint="turn events on (MODELPILOT_EVENTS__ENABLED=true)",
            )
        doc = await read_json(request, ctx.settings.serving.max_body_bytes)
        events = parse_alertmanager(doc, now=time.time())  # all checked before any is published
        skipped = len(doc["alerts"]) - len(events)
        published = sum(bool(bus.publish(event)) for event in events)
        if published < len(events):
            raise UnavailableError(
                f"{len(events) - published} of {len(events)} alerts were dropped: this server's event queue is full",
                hint="Alertmanager sends the notification again; if this lasts, raise events.queue_size",
            )
        firing = sum(event.alert["state"] == "firing" for event in events)
        body = {"accepted": len(events), "firing": firing, "resolved": len(events) - firing, "skipped": skipped}
        return json_response(body)
    except Exception as exc:
        return error_response(exc)


def alert_routes() -> list[Route]:
    """The Alertmanager receiver route."""
    return [Route("/v1/alerts/alertmanager", alertmanager, methods=["POST"])]
