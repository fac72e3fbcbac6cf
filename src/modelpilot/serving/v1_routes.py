"""Record-style routes: ``POST /v1/models/{name}:predict`` (KServe v1 convention) and ``POST /v1/feedback``.

Predict takes ``{"instances": [{"feature": value, ...}, ...]}`` and answers ``{"predictions": [...],
"probabilities": [...], "classes": [...], "model_version": "3", "variant": "stable", "request_id": "..."}``
(probabilities and classes for classifiers only). Feedback takes ``[{"request_id": "...", "label": ...}, ...]``
(or ``{"labels": [...]}``), validates every item first, then puts each label on the bus for the monitor to join.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelpilot.auth import Role
from modelpilot.errors import InvalidInputError, UnavailableError
from modelpilot.events.model import LabelEvent, check_label
from modelpilot.ids import bounded_id
from modelpilot.serving.context import ServerContext, require
from modelpilot.serving.http import error_response, json_response, read_json
from modelpilot.serving.infer import Call, after_response, answer_headers, handle
from modelpilot.serving.inputs import batch_from_records
from modelpilot.serving.plan import sticky_text
from modelpilot.telemetry import metrics

__all__ = ["v1_routes"]

_MAX_FEEDBACK = 10_000


def _plain(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


async def predict(request: Request) -> Response:
    """Predict on records."""
    return await handle(request, "v1", _predict)


async def _predict(call: Call) -> Response:
    request, served = call.request, call.served
    serving = call.ctx.settings.serving
    doc = await read_json(request, serving.max_body_bytes)
    if not isinstance(doc, dict) or "instances" not in doc:
        raise InvalidInputError(
            'body: expected an object with "instances"', hint='send {"instances": [{"feature": value, ...}]}'
        )
    extra = sorted(set(doc) - {"instances"})
    if extra:
        raise InvalidInputError(f"body: unknown field(s) {extra}", hint='send only {"instances": [...]}')
    instances = doc["instances"]
    sticky = None
    plan = served.plan
    if plan.sticky_header is not None:
        sticky = request.headers.get(plan.sticky_header)
    elif plan.sticky_field is not None and isinstance(instances, list) and instances:
        first = instances[0]
        if isinstance(first, dict) and first.get(plan.sticky_field) is not None:
            sticky = sticky_text(first[plan.sticky_field])  # as the OIP route: 31 and 31.0 agree
    choice = served.router.choose(sticky)
    loaded, variant = served.versions[choice.version], choice.variant
    call.variant, call.version = variant, loaded.info.version
    batch = batch_from_records(loaded.info.signature, instances, max_rows=serving.max_rows)
    outcome = await call.run(loaded, variant, batch)
    p = outcome.prediction
    body: dict[str, Any] = {"predictions": _plain(p.prediction)}
    if p.probabilities is not None:
        body["probabilities"] = p.probabilities
        body["classes"] = _plain(p.classes or ())
    body.update(model_version=str(outcome.version), variant=outcome.variant, request_id=outcome.request_id)
    if outcome.fallback_reason:
        body["fallback_reason"] = outcome.fallback_reason
    return after_response(json_response(body, headers=answer_headers(outcome)), outcome, call.ctx.shadows)


def parse_feedback(doc: Any, now: float) -> list[LabelEvent]:
    """Validate a feedback body completely (nothing is accepted unless everything is valid).

    >>> [e.label for e in parse_feedback([{"request_id": "a", "label": 1}], 0.0)]
    [1]
    """
    items = doc.get("labels") if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not items:
        raise InvalidInputError(
            "body: expected a non-empty list of labels", hint='send [{"request_id": "...", "label": ...}, ...]'
        )
    if len(items) > _MAX_FEEDBACK:
        raise InvalidInputError(
            f"body: {len(items)} labels, more than {_MAX_FEEDBACK} in one request",
            hint="send labels in smaller batches",
        )
    out: list[LabelEvent] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInputError(
                f"[{i}]: expected an object", hint='each label is {"request_id": "...", "label": ...}'
            )
        unknown = sorted(set(item) - {"request_id", "label", "model"})
        if unknown:
            raise InvalidInputError(f"[{i}]: unknown field(s) {unknown}", hint="allowed: request_id, label, model")
        rid = item.get("request_id")
        if not isinstance(rid, str) or not rid or len(rid) > 256:
            raise InvalidInputError(
                f"[{i}].request_id: expected the request id string the prediction returned",
                hint="use the request_id (or X-Request-Id header) of the prediction",
            )
        if "label" not in item or item["label"] is None:
            raise InvalidInputError(f"[{i}].label: missing", hint='send the true outcome, e.g. 0 or "approved"')
        value = item["label"]
        scalar = str | int | float | bool
        if not isinstance(value, scalar) and not (
            isinstance(value, list) and value and all(isinstance(v, scalar) for v in value)
        ):
            raise InvalidInputError(
                f"[{i}].label: expected a number, string or boolean (or a list of them, one per row)",
                hint="send the true outcome; for a request of several rows, a list in the rows' order",
            )
        check_label(value, f"[{i}].label")  # the bounds every reader of labels applies (LabelEvent.from_dict)
        model = item.get("model")
        if model is not None and not isinstance(model, str):
            raise InvalidInputError(f"[{i}].model: expected a model name", hint='e.g. "credit"')
        if model is not None:
            model = bounded_id(model, f"[{i}].model")
        out.append(LabelEvent(request_id=rid, label=value, time=now, model=model))
    return out


async def feedback(request: Request) -> Response:
    """Accept labels for earlier predictions."""
    try:
        require(request, Role.ingest)
        ctx: ServerContext = request.app.state.mp
        labels = parse_feedback(await read_json(request, ctx.settings.serving.max_body_bytes), time.time())
        if ctx.bus is None:
            raise UnavailableError(
                "labels cannot be recorded: this server's event stream is off (events.enabled=false)",
                hint="turn events on (MODELPILOT_EVENTS__ENABLED=true) to collect labels",
            )
        if ctx.settings.events.bus == "kafka":  # a label travels on its model's partition, to meet its prediction
            for i, ev in enumerate(labels):
                if ev.model is None:
                    raise InvalidInputError(
                        f"[{i}].model: missing; with the Kafka event bus every label names its model",
                        hint='add "model": "<name>" to each label',
                    )
        accepted = sum(bool(ctx.bus.publish(ev)) for ev in labels)
        metrics.LABELS_RECEIVED.inc(accepted)
        return json_response({"accepted": accepted, "dropped": len(labels) - accepted}, 202)
    except Exception as exc:
        return error_response(exc)


def v1_routes() -> list[Route]:
    """The record-style routes."""
    return [
        Route("/v1/models/{name}:predict", predict, methods=["POST"]),
        Route("/v1/feedback", feedback, methods=["POST"]),
    ]
