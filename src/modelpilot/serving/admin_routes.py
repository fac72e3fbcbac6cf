"""Admin HTTP API: traffic plans and rollback (role ``operate``), registry aliases and tokens (role ``admin``).

Every route needs a bearer token, whatever the bind address; every change is audited with ``token:<name>`` as the
actor, in the same transaction as the change, and applied to this process at once (other replicas follow within
their poll interval). Blocking store work runs in a worker thread so the event loop keeps serving predictions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelpilot.auth import Principal, Role
from modelpilot.errors import InvalidInputError, NotFoundError
from modelpilot.ids import version_number
from modelpilot.serving.context import ServerContext, require
from modelpilot.serving.http import error_response, json_response, read_json
from modelpilot.serving.plan import Shadow, TrafficPlan

__all__ = ["ADMIN_ROUTES", "PlanRequest", "admin_routes", "plan_from_request"]


_M = TypeVar("_M", bound=BaseModel)


class ShadowRequest(BaseModel):
    """A shadow version in a plan request."""

    model_config = ConfigDict(extra="forbid")
    version: int | str
    rate: float = 1.0


class PlanRequest(BaseModel):
    """Body of ``PUT /v1/models/{name}/traffic``; versions may be numbers or aliases."""

    model_config = ConfigDict(extra="forbid")
    stable: int | str
    canary: int | str | None = None
    weight: float = 0.0
    shadows: list[ShadowRequest] = Field(default_factory=list)
    sticky_header: str | None = None
    sticky_field: str | None = None
    reason: str = ""


class ReasonRequest(BaseModel):
    """A body that only carries a reason."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1)


class AliasRequest(BaseModel):
    """Body of ``PUT /v1/models/{name}/aliases/{alias}``."""

    model_config = ConfigDict(extra="forbid")
    version: int | str
    reason: str = Field(min_length=1)


class TokenRequest(BaseModel):
    """Body of ``POST /v1/tokens``."""

    model_config = ConfigDict(extra="forbid")
    name: str
    role: str
    reason: str = ""


def _parse(cls: type[_M], doc: Any) -> _M:
    try:
        return cls.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        fields = sorted(cls.model_fields)
        raise InvalidInputError(f"invalid body: {problems}", hint=f"fields of this body: {fields}") from None


def plan_from_request(ctx: ServerContext, name: str, body: PlanRequest) -> TrafficPlan:
    """Resolve version references (numbers, ``v3``, aliases) and build the plan."""
    reg = ctx.registry

    def num(ref: int | str, field: str) -> int:
        if isinstance(ref, int):
            return version_number(ref, field)  # 1 to 2**31 - 1: what a version column holds
        try:
            return reg.resolve(name, ref).version
        except NotFoundError as exc:
            raise NotFoundError(f"{field}: {exc.message}", hint=exc.hint) from None

    return TrafficPlan(
        model=name,
        stable=num(body.stable, "stable"),
        canary=None if body.canary is None else num(body.canary, "canary"),
        weight=body.weight,
        shadows=tuple(Shadow(num(s.version, f"shadows[{i}].version"), s.rate) for i, s in enumerate(body.shadows)),
        sticky_header=body.sticky_header,
        sticky_field=body.sticky_field,
    )


def _actor(principal: Principal) -> str:
    return f"token:{principal.name}"


async def _apply(ctx: ServerContext) -> None:
    """Reload this process's table now, instead of waiting for the next poll."""
    await asyncio.to_thread(ctx.table.reload)


Handler = Callable[[Request, ServerContext, Principal], Awaitable[Response]]


def _guarded(role: Role, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            principal = require(request, role)
            return await handler(request, request.app.state.mp, principal)
        except Exception as exc:
            return error_response(exc)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


async def get_traffic(request: Request, ctx: ServerContext, principal: Principal) -> Response:
    """The current plan of a model and the revision this process serves."""
    name = request.path_params["name"]
    plan = await run_in_threadpool(ctx.plans.get, name)
    if plan is None:
        raise NotFoundError(
            f"model {name!r} has no traffic plan", hint=f"set one with: modelpilot traffic set {name} --stable V"
        )
    served = ctx.table.models.get(name)
    return json_response(
        {
            "plan": plan.to_json(),
            "served_here": None if served is None else served.plan.to_json(),
            "revision": (ctx.table.loaded_marker or (0, 0))[0],
        }
    )


async def put_traffic(request: Request, ctx: ServerContext, principal: Principal) -> Response:
    """Replace a model's plan."""
    name = request.path_params["name"]
    body = _parse(PlanRequest, await read_json(request, ctx.settings.serving.max_body_bytes))
    plan = await run_in_threadpool(plan_from_request, ctx, name, body)
    try:  # refuse a plan this server cannot serve before it is stored for every replica
        await run_in_threadpool(ctx.table.preload, plan)
    except NotFoundError:
        raise
    except Exception as exc:
        raise InvalidInputError(
            f"plan: a version cannot be loaded here ({type(exc).__name__}: {exc})",
            hint="check the version's artifact and format (modelpilot show NAME V); nothing was changed",
        ) from exc
    change = await run_in_threadpool(lambda: ctx.plans.set(plan, actor=_actor(principal), reason=body.reason))
    await _apply(ctx)
    return json_response(change.to_json())


async def rollback(request: Request, ctx: ServerContext, principal: Principal) -> Response:
    """Send all traffic back to the last known-good version."""
    name = request.path_params["name"]
    body = _parse(ReasonRequest, await read_json(request, ctx.settings.serving.max_body_bytes))
    change = await run_in_threadpool(lambda: ctx.plans.rollback(name, actor=_actor(principal), reason=body.reason))
    await _apply(ctx)
    return json_response(change.to_json())


async def traffic_history(request: Request, ctx: ServerContext, principal: Principal) -> Response:
    """Every plan change of a model."""
    changes = await run_in_threadpool(ctx.plans.history, request.path_params["name"])
    return json_response([c.to_json() for c in changes])


async def list_models(request: Request, ctx: ServerContext, principal: Principal) -> Response:
    """Registered models."""
    models = await run_in_threadpool(ctx.registry.models)
    return json_response([m.model_dump(mode="json") for m in models])


async def list_versions(request: Request, ctx: ServerContext, principal: Principal) -> Response:
    """Versions of a model."""
    versions = await run_in_threadpool(ctx.registry.versions, request.path_params["name"])
    return json_response([v.model_dump(mode="json") for v in versions])


async def put_alias(request: Request, ctx: ServerContext, principal: Principal) -> Response:
    """Point an alias at a version."""
    name, alias = request.path_params["name"], request.path_params["alias"]
    body = _parse(AliasRequest, await read_json(request, ctx.settings.serving.max_body_bytes))

    def move() -> Any:
        version = ctx.registry.resolve(name, body.version).version
        return ctx.registry.set_alias(name, alias, version, reason=body.reason, actor=_actor(principal))

    moved = await run_in_threadpool(move)
    await _apply(ctx)
    return json_response(moved.model_dump(mode="json"))


async def delete_alias(request: Request, ctx: ServerContext, principal: Principal) -> Response:
    """Remove an alias."""
    name, alias = request.path_params["name"], request.path_params["alias"]
    body = _parse(ReasonRequest, await read_json(request, ctx.settings.serving.max_body_bytes))
    moved = await run_in_threadpool(
        lambda: ctx.registry.unset_alias(name, alias, reason=body.reason, actor=_actor(principal))
    )
    await _apply(ctx)
    return json_response(moved.model_dump(mode="json"))


def _token_json(info: Any) -> dict[str, Any]:
    return {
        "name": info.name,
        "role": info.role.value,
        "prefix": info.prefix,
        "created_at": info.created_at.isoformat(),
        "created_by": info.created_by,
        "revoked_at": None if info.revoked_at is None else info.revoked_at.isoformat(),
        "revoked_by": info.revoked_by,
    }


async def list_tokens(request: Request, ctx: ServerContext, principal: Principal) -> Response:
    """Every token (never the secrets)."""
    tokens = await run_in_threadpool(ctx.tokens.list)
    return json_response([_token_json(t) for t in tokens])


async def create_token(request: Request, ctx: ServerContext, principal: Principal) -> Response:
    """Create a token; the secret is in this response only."""
    body = _parse(TokenRequest, await read_json(request, ctx.settings.serving.max_body_bytes))
    info, secret = await run_in_threadpool(
        lambda: ctx.tokens.create(body.name, body.role, actor=_actor(principal), reason=body.reason)
    )
    await refresh_tokens(ctx)
    return json_response({**_token_json(info), "token": secret}, 201)


async def revoke_token(request: Request, ctx: ServerContext, principal: Principal) -> Response:
    """Revoke a token (effective on this process at once)."""
    body = _parse(ReasonRequest, await read_json(request, ctx.settings.serving.max_body_bytes))
    info = await run_in_threadpool(
        lambda: ctx.tokens.revoke(request.path_params["name"], actor=_actor(principal), reason=body.reason)
    )
    await refresh_tokens(ctx)
    return json_response(_token_json(info))


async def refresh_tokens(ctx: ServerContext) -> None:
    """Reload the cached token table."""
    table = await asyncio.to_thread(ctx.tokens.table)
    ctx.token_table = table
    ctx.token_version = table.version


ADMIN_ROUTES: list[tuple[str, str, Role, Handler]] = [
    ("GET", "/v1/models/{name}/traffic", Role.operate, get_traffic),
    ("PUT", "/v1/models/{name}/traffic", Role.operate, put_traffic),
    ("POST", "/v1/models/{name}/rollback", Role.operate, rollback),
    ("GET", "/v1/models/{name}/traffic/history", Role.operate, traffic_history),
    ("GET", "/v1/models", Role.operate, list_models),
    ("GET", "/v1/models/{name}/versions", Role.operate, list_versions),
    ("PUT", "/v1/models/{name}/aliases/{alias}", Role.admin, put_alias),
    ("DELETE", "/v1/models/{name}/aliases/{alias}", Role.admin, delete_alias),
    ("GET", "/v1/tokens", Role.admin, list_tokens),
    ("POST", "/v1/tokens", Role.admin, create_token),
    ("DELETE", "/v1/tokens/{name}", Role.admin, revoke_token),
]
"""(method, path, role needed, handler) of every admin route."""


def admin_routes() -> list[Route]:
    """The admin routes, each guarded by its role."""
    return [Route(path, _guarded(role, handler), methods=[method]) for method, path, role, handler in ADMIN_ROUTES]
