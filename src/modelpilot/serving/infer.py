"""The inference pipeline shared by the v2 and v1 routes: route, run (with fallback), record, copy to shadows.

Handlers parse their wire format into a batch, call :func:`run_inference`, and encode what it returns. Metrics,
the inference event and shadow copies are all handled here, once, for both protocols — on success and on failure.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from modelpilot.auth import Role
from modelpilot.errors import BadRequestError, ModelError, ModelPilotError, ModelTimeoutError, UnavailableError
from modelpilot.events.model import InferenceEvent
from modelpilot.serving.context import ServerContext, require
from modelpilot.serving.http import error_response
from modelpilot.serving.runner import Prediction
from modelpilot.serving.shadow import ShadowJob, ShadowQueue
from modelpilot.serving.state import LoadedVersion, ServedModel
from modelpilot.telemetry import metrics

__all__ = [
    "MAX_REQUEST_ID",
    "Call",
    "Outcome",
    "already_counted",
    "answer_headers",
    "checked_request_id",
    "handle",
    "id_header",
    "new_request_id",
    "record_failure",
    "run_inference",
]


_IDS = random.Random(int.from_bytes(os.urandom(16), "big"))  # seeded once: os.urandom per request is a syscall


@dataclass(slots=True)
class Call:
    """One inference request on its way through a route: what the pipeline, the metrics and the error path need."""

    request: Request
    ctx: ServerContext
    served: ServedModel
    protocol: str
    arrived: float
    started: float
    request_id: str | None
    variant: str = "stable"
    version: int | None = None

    async def run(self, target: LoadedVersion, variant: str, batch: dict[str, npt.NDArray[Any]]) -> Outcome:
        """Run the pipeline for this request (a request id is made up here when the caller sent none)."""
        self.variant, self.version = variant, target.info.version
        if self.request_id is None:
            self.request_id = new_request_id()
        ctx = self.ctx
        return await run_inference(
            self.served,
            target,
            variant,
            batch,
            request_id=self.request_id,
            arrived=self.arrived,
            started=self.started,
            protocol=self.protocol,
            publish=ctx.publish if ctx.bus is not None else None,
            shadows=ctx.shadows,
        )


def answer_headers(outcome: Outcome) -> dict[str, str]:
    """The response headers naming the request, the answering version and its role."""
    return {"x-request-id": outcome.request_id, "x-model-version": str(outcome.version), "x-variant": outcome.variant}


def after_response(response: Response, outcome: Outcome, shadows: ShadowQueue | None) -> Response:
    """Queue the request's shadow copies once the response has been sent (never before, never awaited)."""
    if outcome.shadow_jobs and shadows is not None:
        response.background = BackgroundTask(_offer, shadows, outcome.shadow_jobs)
    return response


async def _offer(shadows: ShadowQueue, jobs: tuple[ShadowJob, ...]) -> None:
    for job in jobs:
        shadows.offer(job)


async def handle(request: Request, protocol: str, body: Callable[[Call], Awaitable[Response]]) -> Response:
    """The frame of every inference route: in-flight gauge, draining, auth, model lookup, and one error path."""
    arrived = time.time()
    started = time.perf_counter()
    ctx: ServerContext = request.app.state.mp
    name = request.path_params["name"]
    label = "unknown"  # metric label stays bounded for unknown model names
    call: Call | None = None
    request_id = request.headers.get("x-request-id")
    metrics.IN_FLIGHT.inc()
    try:
        request_id = checked_request_id(request_id)
        if ctx.draining:
            raise UnavailableError("server is shutting down", hint="retry on another replica")
        require(request, Role.predict)
        served = ctx.table.get(name)
        label = name
        call = Call(request, ctx, served, protocol, arrived, started, request_id)
        return await body(call)
    except Exception as exc:
        if not already_counted(exc):
            variant, version = ("stable", None) if call is None else (call.variant, call.version)
            record_failure(label, version, variant, protocol, exc, started)
        return error_response(exc, id_header(request_id if call is None else call.request_id))
    finally:
        metrics.IN_FLIGHT.dec()


def new_request_id() -> str:
    """A fresh request id: 32 hex characters, 128 random bits (unique, not secret).

    >>> len(new_request_id()), new_request_id() != new_request_id()
    (32, True)
    """
    return f"{_IDS.getrandbits(128):032x}"


MAX_REQUEST_ID = 256
"""Longest request id accepted (header ``X-Request-Id`` or the v2 ``id``): it is stored with every event."""


def checked_request_id(value: str | None) -> str | None:
    """A caller's request id, refused with 400 when it is too long to store with the events.

    >>> checked_request_id("abc"), checked_request_id(None)
    ('abc', None)
    """
    if value is not None and len(value) > MAX_REQUEST_ID:
        raise BadRequestError(
            f"request id: {len(value)} characters, more than {MAX_REQUEST_ID}",
            hint="send a shorter X-Request-Id (or v2 id), e.g. a UUID",
        )
    if value and not (value.isascii() and value.isprintable() and " " not in value):
        raise BadRequestError(
            "request id: only printable ASCII without spaces is allowed (it is echoed in a header)",
            hint="send an id such as a UUID in X-Request-Id (or the v2 id)",
        )
    return value or None


def id_header(request_id: str | None) -> dict[str, str] | None:
    """The ``X-Request-Id`` response header for an id (none for an id that was refused)."""
    try:
        checked = checked_request_id(request_id)
    except BadRequestError:
        return None
    return {"x-request-id": checked} if checked else None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What answered a request."""

    prediction: Prediction
    version: int
    variant: str
    fallback_reason: str | None
    request_id: str
    shadow_jobs: tuple[ShadowJob, ...] = ()


async def run_inference(
    served: ServedModel,
    target: LoadedVersion,
    variant: str,
    batch: dict[str, npt.NDArray[Any]],
    *,
    request_id: str,
    arrived: float,
    started: float,
    protocol: str,
    publish: Callable[[InferenceEvent], Any] | None,
    shadows: ShadowQueue | None,
) -> Outcome:
    """Run the routed version (or the fallback when it fails), record the event, and queue shadow copies."""
    fallback_reason: str | None = None
    try:
        prediction = await target.runner.predict(batch)
    except (ModelError, ModelTimeoutError) as exc:
        fb = served.fallback
        if fb is None or fb.info.version == target.info.version or not set(fb.info.signature.names) <= set(batch):
            _failed(
                served.name, target.info.version, variant, batch, request_id, arrived, started, protocol, exc, publish
            )
            raise
        fallback_reason = "timeout" if isinstance(exc, ModelTimeoutError) else "error"
        metrics.FALLBACKS.labels(model=served.name, reason=fallback_reason).inc()
        target, variant = fb, "fallback"
        batch = {n: batch[n] for n in fb.info.signature.names}
        try:
            prediction = await target.runner.predict(batch)
        except ModelPilotError as fb_exc:
            _failed(
                served.name,
                target.info.version,
                variant,
                batch,
                request_id,
                arrived,
                started,
                protocol,
                fb_exc,
                publish,
            )
            raise
    version = target.info.version
    ok_counter, duration = _ok_instruments(served.name, version, variant, protocol)
    ok_counter.inc()
    duration.observe(time.perf_counter() - started)
    if publish is not None:
        publish(
            _event(served.name, version, variant, batch, prediction, request_id, arrived, started, 200, None, protocol)
        )
    jobs: list[ShadowJob] = []
    if shadows is not None and served.plan.shadows:
        for shadow_version in served.router.shadows():
            loaded = served.versions.get(shadow_version)
            if loaded is not None:
                jobs.append(ShadowJob(served.name, loaded, batch, request_id, arrived))
    return Outcome(prediction, version, variant, fallback_reason, request_id, tuple(jobs))


def _failed(
    model: str,
    version: int,
    variant: str,
    batch: dict[str, npt.NDArray[Any]],
    request_id: str,
    arrived: float,
    started: float,
    protocol: str,
    exc: ModelPilotError,
    publish: Callable[[InferenceEvent], Any] | None,
) -> None:
    record_failure(model, version, variant, protocol, exc, started)
    if publish is not None:
        publish(
            _event(
                model,
                version,
                variant,
                batch,
                None,
                request_id,
                arrived,
                started,
                exc.http_status,
                exc.message,
                protocol,
            )
        )


_OK: dict[tuple[str, int, str, str], tuple[Any, Any]] = {}


def _ok_instruments(model: str, version: int, variant: str, protocol: str) -> tuple[Any, Any]:
    """The success counter and duration histogram of one (model, version, variant, protocol), looked up once."""
    key = (model, version, variant, protocol)
    found = _OK.get(key)
    if found is None:
        found = (
            metrics.REQUESTS.labels(model=model, version=str(version), variant=variant, protocol=protocol, code="200"),
            metrics.REQUEST_DURATION.labels(model=model, version=str(version), variant=variant, protocol=protocol),
        )
        _OK[key] = found
    return found


def record_failure(
    model: str, version: int | None, variant: str, protocol: str, exc: BaseException, started: float
) -> None:
    """Count a request that ended in an error (bad input, busy, model failure)."""
    code = str(exc.http_status) if isinstance(exc, ModelPilotError) else "500"
    metrics.REQUESTS.labels(
        model=model, version="" if version is None else str(version), variant=variant, protocol=protocol, code=code
    ).inc()
    metrics.REQUEST_DURATION.labels(
        model=model, version="" if version is None else str(version), variant=variant, protocol=protocol
    ).observe(time.perf_counter() - started)
    exc._modelpilot_counted = True  # type: ignore[attr-defined]


def already_counted(exc: BaseException) -> bool:
    """True when :func:`record_failure` has counted this error already."""
    return bool(getattr(exc, "_modelpilot_counted", False))


def _event(
    model: str,
    version: int,
    variant: str,
    batch: dict[str, npt.NDArray[Any]],
    prediction: Prediction | None,
    request_id: str,
    arrived: float,
    started: float,
    status: int,
    error: str | None,
    protocol: str,
) -> InferenceEvent:
    return InferenceEvent(
        request_id=request_id,
        time=arrived,
        model=model,
        version=version,
        variant=variant,  # type: ignore[arg-type]
        features=batch,
        prediction=None if prediction is None else prediction.prediction,
        probabilities=None if prediction is None else prediction.probabilities,
        classes=None if prediction is None else prediction.classes,
        latency_s=time.perf_counter() - started,
        status=status,
        error=error,
        protocol=protocol,
    )
