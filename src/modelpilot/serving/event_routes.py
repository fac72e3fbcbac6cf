"""``POST /v1/events``: inference events from models served elsewhere (KServe's logger CloudEvents) and
modelpilot's own events and labels as CloudEvents, put on the event bus for the monitor.

KServe sends a request and a response event per call; they are paired by id (bounded memory) and become one
inference event attributed to the model named by ``inferenceservicename``: its ``modelversion`` extension, or else
the version the model's ``production`` alias points at, or else its latest version.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelpilot.auth import Role
from modelpilot.errors import InvalidInputError, UnavailableError
from modelpilot.events.cloudevents import (
    KSERVE_REQUEST,
    KSERVE_RESPONSE,
    MODELPILOT_INFERENCE,
    MODELPILOT_LABEL,
    KServePairs,
    from_cloudevent,
    parse_http,
)
from modelpilot.events.model import Event
from modelpilot.registry.lookups import ModelLookups
from modelpilot.serving.context import ServerContext, require
from modelpilot.serving.http import error_response, json_response, read_body

__all__ = ["event_routes"]


def _pairs(ctx: ServerContext) -> KServePairs:
    pairs = ctx.extras.get("kserve_pairs")
    if pairs is None:
        lookups = ModelLookups(ctx.registry)  # asked once every few seconds, not on every event pair
        pairs = KServePairs(lookups.feature_names, version_of=lookups.version_of)
        ctx.extras["kserve_pairs"] = pairs
    return pairs


async def events(request: Request) -> Response:
    """Accept CloudEvents (binary, structured or batch mode)."""
    try:
        require(request, Role.predict)
        ctx: ServerContext = request.app.state.mp
        if ctx.bus is None:
            raise UnavailableError(
                "events cannot be recorded: this server's event stream is off (events.enabled=false)",
                hint="turn events on (MODELPILOT_EVENTS__ENABLED=true)",
            )
        body = await read_body(request, ctx.settings.serving.max_body_bytes)
        received = parse_http(dict(request.headers), body)
        out: list[Event] = []
        pairs = _pairs(ctx)
        kserve = []
        for ce in received:  # decode everything first: a bad event refuses the request, nothing half-accepted
            if ce.type in (KSERVE_REQUEST, KSERVE_RESPONSE):
                kserve.append(ce)
            elif ce.type in (MODELPILOT_INFERENCE, MODELPILOT_LABEL):
                out.append(from_cloudevent(ce))
            else:
                raise InvalidInputError(
                    f"event {ce.id}: type {ce.type!r} is not understood",
                    hint=f"send {KSERVE_REQUEST}/{KSERVE_RESPONSE} (KServe's logger) or {MODELPILOT_INFERENCE}",
                )
        out.extend(pairs.add_all(kserve))  # all pair, or none changes
        accepted = sum(bool(ctx.bus.publish(ev)) for ev in out)
        payload: dict[str, Any] = {
            "received": len(received),
            "published": accepted,
            "dropped": len(out) - accepted,
            "waiting_for_pair": pairs.pending,
            "time": time.time(),
        }
        return json_response(payload, 202)
    except Exception as exc:
        return error_response(exc)


def event_routes() -> list[Route]:
    """The event intake route."""
    return [Route("/v1/events", events, methods=["POST"])]
