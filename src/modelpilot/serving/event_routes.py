"""``POST /v1/events``: inference events from models served elsewhere (KServe's logger CloudEvents) and
modelpilot's own events and labels as CloudEvents, put on the event bus for the monitor.

KServe sends a request and a response event per call; they are paired by id (bounded memory) and become one
inference event attributed to the model named by ``inferenceservicename``: its ``modelversion`` extension, or else
the version the model's ``production`` alias points at, or else its latest version.
"""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
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
from modelpilot.events.model import Event, InferenceEvent
from modelpilot.registry.lookups import ModelLookups
from modelpilot.serving.context import ServerContext, require
from modelpilot.serving.http import check_request, error_response, json_response, read_body

__all__ = ["event_routes"]


def _lookups(ctx: ServerContext) -> ModelLookups:
    found = ctx.extras.get("model_lookups")
    if found is None:
        found = ctx.extras["model_lookups"] = ModelLookups(ctx.registry)  # asked every few seconds, not per event
    return cast(ModelLookups, found)


def _pairs(ctx: ServerContext) -> KServePairs:
    pairs = ctx.extras.get("kserve_pairs")
    if pairs is None:
        lookups = _lookups(ctx)
        pairs = KServePairs(lookups.feature_names, version_of=lookups.version_of)
        ctx.extras["kserve_pairs"] = pairs
    return cast(KServePairs, pairs)


INLINE_BYTES = 64 * 1024
"""Bodies up to this size are decoded on the event loop; larger ones on a worker thread, so that no request holds
the loop (health probes, other requests) for longer than a small body takes."""


def _decode(ctx: ServerContext, headers: dict[str, str], body: bytes) -> tuple[int, list[Event], int]:
    """The events of one request: (CloudEvents received, events to publish, halves waiting for their pair).
    Everything is decoded and checked before anything is published: a bad event refuses the request (a KServe
    pair naming a version that does not exist is refused once paired, and its halves are not kept)."""
    received = parse_http(headers, body)
    out: list[Event] = []
    pairs = _pairs(ctx)
    kserve = []
    for ce in received:
        if ce.type in (KSERVE_REQUEST, KSERVE_RESPONSE):
            kserve.append(ce)
        elif ce.type in (MODELPILOT_INFERENCE, MODELPILOT_LABEL):
            out.append(from_cloudevent(ce))
        else:
            raise InvalidInputError(
                f"event {ce.id[:80]}: type {ce.type[:80]!r} is not understood",
                hint=f"send {KSERVE_REQUEST}/{KSERVE_RESPONSE} (KServe's logger) or {MODELPILOT_INFERENCE}",
            )
    lookups = _lookups(ctx)
    for ev in out:  # only events of registered versions, in roles the plan gives them, reach the monitor
        if isinstance(ev, InferenceEvent):
            lookups.check(ev.model, ev.version)
            _check_role(ctx, ev)
    paired = pairs.add_all(kserve)  # all pair, or none changes
    for ev in paired:  # a declared ce-modelversion must exist too (a pair refused here is not kept)
        lookups.check(ev.model, ev.version)
    return len(received), out + paired, pairs.pending


def _check_role(ctx: ServerContext, ev: InferenceEvent) -> None:
    """A canary, shadow or fallback event must name the version that plays that role in the model's plan here:
    evidence for a rollout or a fallback comes from the plan, not from whoever posts events (a stable event from
    outside is the usual case: a model served elsewhere)."""
    if ev.variant == "stable":
        return
    served = ctx.table.models.get(ev.model)
    role = None if served is None else served.plan.role_of(ev.version)
    if served is not None and role is None and served.fallback is not None:
        role = "fallback" if served.fallback.info.version == ev.version else None
    if served is None or role != ev.variant:
        plays = "is not served here" if served is None else f"plays {role!r} in its plan"
        raise InvalidInputError(
            f"inference event {ev.request_id[:80]}: variant {ev.variant!r} for {ev.model} v{ev.version}, which {plays}",
            hint="events from outside are stable; canary, shadow and fallback events come from the server's own plan",
        )


async def _decoded(ctx: ServerContext, headers: dict[str, str], body: bytes) -> tuple[int, list[Event], int]:
    lock = ctx.extras.get("events_lock")
    if lock is None:
        lock = ctx.extras["events_lock"] = threading.Lock()  # the KServe pairs are shared by every request
    if len(body) <= INLINE_BYTES and lock.acquire(blocking=False):
        try:
            return _decode(ctx, headers, body)
        finally:
            lock.release()

    def work() -> tuple[int, list[Event], int]:
        with lock:
            return _decode(ctx, headers, body)

    return await run_in_threadpool(work)


async def events(request: Request) -> Response:
    """Accept CloudEvents (binary, structured or batch mode)."""
    try:
        require(request, Role.ingest)
        ctx: ServerContext = request.app.state.mp
        if ctx.bus is None:
            raise UnavailableError(
                "events cannot be recorded: this server's event stream is off (events.enabled=false)",
                hint="turn events on (MODELPILOT_EVENTS__ENABLED=true)",
            )
        # KServe's logger copies the logged request's Content-Type onto binary-mode events: with ce-* headers
        # (which no cross-site form can send) any type is read as JSON; the Origin check stays
        check_request(request, any_type="ce-type" in request.headers)
        body = await read_body(request, ctx.settings.serving.max_body_bytes)
        received, out, waiting = await _decoded(ctx, dict(request.headers), body)
        accepted = sum(bool(ctx.bus.publish(ev)) for ev in out)
        payload: dict[str, Any] = {
            "received": received,
            "published": accepted,
            "dropped": len(out) - accepted,
            "waiting_for_pair": waiting,
            "time": time.time(),
        }
        return json_response(payload, 202)
    except Exception as exc:
        return error_response(exc)


def event_routes() -> list[Route]:
    """The event intake route."""
    return [Route("/v1/events", events, methods=["POST"])]
