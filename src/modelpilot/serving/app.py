"""The Starlette application: builds the process's context, mounts every route, and runs the background work.

Start-up loads every planned model off the event loop (``/v2/health/ready`` answers 503 until then), starts the
shadow workers and the watcher that polls the store (plans, aliases, tokens) every ``serving.plan_poll_s``.
Shutdown (uvicorn stops accepting and waits for in-flight requests first) drains the shadow queue and flushes the
event bus, both bounded by ``serving.drain_timeout_s``.

Example:
    >>> import tempfile
    >>> from modelpilot.config import load_settings
    >>> app = create_app(load_settings(home=tempfile.mkdtemp()))
    >>> sorted({r.path for r in app.routes})[:3]
    ['/metrics', '/openapi.json', '/ui']
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelpilot.auth import Tokens
from modelpilot.config.settings import Settings
from modelpilot.errors import ConfigError, ModelPilotError
from modelpilot.events.bus import Bus, InProcessBus
from modelpilot.events.factory import check_bus, open_bus, open_journal
from modelpilot.events.model import AlarmEvent
from modelpilot.events.sinks import JsonlSink
from modelpilot.registry import Registry
from modelpilot.serving.admin_routes import admin_routes, refresh_tokens
from modelpilot.serving.alert_routes import alert_routes
from modelpilot.serving.context import ServerContext
from modelpilot.serving.event_routes import event_routes
from modelpilot.serving.http import error_response, json_response
from modelpilot.serving.oip_routes import oip_routes
from modelpilot.serving.openapi import openapi_document
from modelpilot.serving.shadow import ShadowQueue
from modelpilot.serving.state import ModelTable
from modelpilot.serving.traffic import TrafficPlans
from modelpilot.serving.v1_routes import v1_routes
from modelpilot.slo.service import SloService
from modelpilot.slo.spec import SloSpec
from modelpilot.ui import ui_routes

if TYPE_CHECKING:
    from modelpilot.control.policy import Policy
from modelpilot.telemetry import metrics

__all__ = ["create_app", "create_app_from_env"]

log = logging.getLogger(__name__)


async def _on_error(request: Request, exc: Exception) -> Response:
    return error_response(exc)


async def _not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    detail = getattr(exc, "detail", "not found")
    if status == 405:  # with the route's Allow header (RFC 9110), which Starlette puts on the exception
        allowed = dict(getattr(exc, "headers", None) or {})
        return json_response(
            {"error": f"method {request.method} is not allowed on {request.url.path}", "code": "method_not_allowed"},
            405,
            {k: v for k, v in allowed.items() if k.lower() == "allow"},
        )
    return json_response(
        {
            "error": f"no route {request.url.path} ({detail})",
            "code": "not_found",
            "hint": "see /openapi.json for every route",
        },
        status,
    )


async def _metrics(request: Request) -> Response:
    ctx: ServerContext = request.app.state.mp
    if ctx.settings.auth.metrics_required:
        try:
            ctx.token_table.authenticate(request.headers.get("authorization"))  # any role: Prometheus reads
        except ModelPilotError as exc:
            return error_response(exc)
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type.split(";")[0], headers={"content-type": content_type})


async def _openapi(request: Request) -> Response:
    return json_response(request.app.state.openapi)


async def _watch(ctx: ServerContext) -> None:
    """Poll the store and reload plans or tokens when they changed; a failed poll is logged and retried."""
    interval = ctx.settings.serving.plan_poll_s
    while True:
        await asyncio.sleep(interval)
        try:
            marker = await asyncio.to_thread(ctx.table.marker)
            retry = bool(ctx.table.errors) and time.monotonic() >= ctx.table.retry_at
            if marker != ctx.table.loaded_marker or retry:
                report = await asyncio.to_thread(ctx.table.reload)
                log.info("traffic plans reloaded: %s", report)
            version = await asyncio.to_thread(ctx.tokens.version)
            if version != ctx.token_version:
                await refresh_tokens(ctx)
        except Exception:
            log.exception("watching the store failed; serving the last loaded plans")


def _mark_draining_on_exit(ctx: ServerContext) -> None:
    """On SIGTERM/SIGINT, report not-ready at once (load balancers stop sending) while uvicorn drains.

    uvicorn installs its own handlers before the lifespan starts; ours runs first and then hands over to them.
    Only possible on the main thread (not, e.g., under a test client).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum: int, frame: FrameType | None, previous: Callable[..., Any] = previous) -> None:
            ctx.draining = True
            previous(signum, frame)

        signal.signal(sig, handler)


def _slo_specs(settings: Settings, registry: Registry) -> list[SloSpec]:
    """The SLOs of ``settings.slo.specs``, checked against the registry; a bad spec stops start-up."""
    if not settings.slo.specs:
        return []
    from modelpilot.slo.spec import load_specs

    files = list(dict.fromkeys(settings.slo.specs))  # the same file from the settings and --slo counts once
    try:
        return load_specs(files, models={m.name for m in registry.models()})
    except Exception:
        registry.store.close()
        raise


def _policy(settings: Settings, registry: Registry) -> Policy | None:
    """The remediation policy of ``settings.control.policy``; a bad file stops start-up."""
    if settings.control.policy is None:
        return None
    from modelpilot.control.policy import load_policy

    try:
        return load_policy(settings.control.policy)
    except Exception:
        registry.store.close()
        raise


def create_app(
    settings: Settings, *, bus: Bus | None = None, seed: int | None = None, monitor: bool = False
) -> Starlette:
    """The server for ``settings``; ``bus`` replaces the in-process bus (events off: pass none and disable).

    ``monitor`` runs the monitor in this process on the same bus (the embedded shape of ``modelpilot up``).
    """
    if settings.events.enabled and settings.events.bus == "kafka" and monitor:
        raise ConfigError(
            "events.bus: `modelpilot up` runs the embedded shape on the in-process bus",
            hint="on Kafka run `modelpilot serve`, `modelpilot monitor --bus kafka` and `modelpilot control` "
            "(docs/operations.md), or set events.bus=memory",
        )
    if settings.events.enabled:
        check_bus(settings)
    registry = Registry.open(settings)
    slo_specs = _slo_specs(settings, registry) if monitor else []
    policy = _policy(settings, registry) if monitor else None
    store = registry.store
    plans = TrafficPlans(store)
    tokens = Tokens(store)
    # Threads are made on demand; the per-version caps bound their use. Room for 16 versions at their cap, so
    # hung canary and shadow calls cannot take the threads a healthy stable version needs.
    executor = ThreadPoolExecutor(
        max_workers=settings.serving.model_concurrency * 16, thread_name_prefix="modelpilot-model"
    )
    table = ModelTable(registry, plans, executor, settings.serving, seed=seed)
    if bus is None and settings.events.enabled:
        bus = open_bus(settings)
    sink = JsonlSink(settings.events.jsonl_path) if settings.events.jsonl_path and bus is not None else None
    if sink is not None and bus is not None:
        bus.subscribe(sink)
    watcher_service = None
    if monitor and bus is not None and settings.events.enabled and settings.monitor.enabled:
        from modelpilot.monitoring.results import Alarm
        from modelpilot.monitoring.service import MonitorService

        def announce(alarm: Alarm, bus: Bus = bus) -> None:  # alarms go on the bus, for the controller
            bus.publish(AlarmEvent(alarm.model_dump(mode="json"), time.time()))

        journal = open_journal(settings) if isinstance(bus, InProcessBus) else None  # Kafka keeps its own
        watcher_service = MonitorService(
            registry, settings.monitor, on_alarm=announce, journal=journal, wait_for_start=True
        )
        bus.subscribe(watcher_service)
    slo_service = None
    if slo_specs:
        slo = settings.slo
        slo_service = SloService(slo_specs, store, bus=bus, tick_s=slo.tick_s, snapshot_s=slo.snapshot_s)
    ctx = ServerContext(
        settings=settings,
        registry=registry,
        plans=plans,
        tokens=tokens,
        table=table,
        executor=executor,
        bus=bus if settings.events.enabled else None,
    )
    if watcher_service is not None:
        ctx.extras["monitor"] = watcher_service
    if slo_service is not None:
        ctx.extras["slo"] = slo_service
    rollout_controller = None
    if monitor and bus is not None and settings.events.enabled:  # the embedded shape judges rollouts too
        from modelpilot.control.controller import RolloutController
        from modelpilot.control.lease import Lease

        lease = Lease(store)  # several `up` processes on one store: the lease holder acts
        rollout_controller = RolloutController(registry, actor=f"controller@{settings.actor_name}", lease=lease)
        bus.subscribe(rollout_controller)
        ctx.extras["rollouts"] = rollout_controller
    remediation = None
    if policy is not None and bus is not None and settings.events.enabled:
        from modelpilot.control.actions import Actuator
        from modelpilot.control.remediator_service import RemediationController

        actor = f"controller@{settings.actor_name}"
        actuator = Actuator(registry, actor=actor, freeze_s=settings.control.freeze_s)
        lease_of = rollout_controller.lease if rollout_controller is not None else None
        remediation = RemediationController(registry, policy, actor=actor, actuator=actuator, lease=lease_of)
        bus.subscribe(remediation)
        ctx.extras["remediation"] = remediation

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        _mark_draining_on_exit(ctx)
        ctx.shadows = ShadowQueue(settings.serving.shadow_queue, ctx.publish if ctx.bus is not None else None)
        ctx.shadows.start()
        await refresh_tokens(ctx)
        report = await asyncio.to_thread(table.reload)
        log.info("serving %s (plan revision %s)", report["models"] or "no models yet", report["revision"])
        # Libraries and models loaded at start-up are hundreds of thousands of long-lived objects; a full garbage
        # collection would scan them all again and again (a stall of tens of ms in the p99). Freeze them once.
        gc.collect()
        gc.freeze()
        # At Python's default (a young collection every 700 allocations) the objects of requests in flight survive
        # two collections and reach the old generation, whose full collections then scan everything the monitor
        # holds (predictions waiting for labels): measured at c=64 in `up`, 13% of the process's time in the
        # collector; at 20,000, 2%.
        _, mid, old = gc.get_threshold()
        gc.set_threshold(settings.serving.gc_young, mid, old)
        if watcher_service is not None:
            await asyncio.to_thread(watcher_service.start)
            log.info(
                "monitor running in this process (windows of %d rows or %g s)",
                settings.monitor.window.rows,
                settings.monitor.window.seconds,
            )
        if slo_service is not None:
            await asyncio.to_thread(slo_service.start)
            log.info("SLO evaluator running: %s", ", ".join(s.id for s in slo_service.evaluator.specs))
        if rollout_controller is not None:
            rollout_controller.start()
        if remediation is not None:
            remediation.start()
            log.info("remediation policy %s v%d in force", remediation.policy.name, remediation.policy.version)
        watcher = asyncio.create_task(_watch(ctx), name="modelpilot-watch")
        try:
            yield
        finally:
            ctx.draining = True
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            timeout = settings.serving.drain_timeout_s
            await ctx.shadows.drain(timeout)
            if remediation is not None:
                await asyncio.to_thread(remediation.stop)
            if rollout_controller is not None:
                await asyncio.to_thread(rollout_controller.stop)
                if rollout_controller.lease is not None:  # a clean stop: the next controller takes over at once
                    await asyncio.to_thread(rollout_controller.lease.release)
            if slo_service is not None:  # a last evaluation, while the bus still takes its alert events
                await asyncio.to_thread(slo_service.stop)
            if ctx.bus is not None:
                flushed = await asyncio.to_thread(ctx.bus.flush, timeout)
                if not flushed:
                    log.warning("shutdown: event bus not flushed within %.1f s", timeout)
                await asyncio.to_thread(ctx.bus.close, timeout)
            if watcher_service is not None:
                await asyncio.to_thread(watcher_service.stop)
            if sink is not None:
                sink.close()
            executor.shutdown(wait=False, cancel_futures=True)
            store.close()

    routes = [  # inference routes first: the router tries routes in order, and they carry the traffic
        *oip_routes(),
        *v1_routes(),
        *event_routes(),
        *alert_routes(),
        *admin_routes(),
        *ui_routes(),
        Route("/metrics", _metrics, methods=["GET"]),
        Route("/openapi.json", _openapi, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ModelPilotError: _on_error, HTTPException: _not_found, Exception: _on_error},
    )
    app.state.mp = ctx
    app.state.openapi = openapi_document()
    return app


def create_app_from_env() -> Starlette:
    """The app for worker processes: settings come from the environment (``modelpilot serve`` sets it)."""
    from modelpilot.config import load_settings

    return create_app(load_settings())
