"""The dashboard's routes on the server: pages, the JSON endpoints their script polls, sign-in, and the packaged
static files.

| route | what |
|---|---|
| ``GET /ui`` | every model: traffic plan, health, rollout, SLO budgets, request rate |
| ``GET /ui/models/{name}`` | one model: traffic, drift, quality, performance, SLOs, alarms, rollouts, audit |
| ``GET /ui/api/overview``, ``GET /ui/api/models/{name}`` | the same as JSON (``?view=html``: the pages' sections) |
| ``GET``/``POST /ui/login``, ``POST /ui/logout`` | the sign-in form and its cookie |
| ``GET /ui/static/{file}`` | the stylesheet, the script and the icon, read from this package |

Pages and endpoints are read-only (GET); the sign-in and sign-out posts are checked to come from the dashboard's
own pages. Store reads and drawing run on a worker thread. Every answer forbids framing, inline scripts and other
origins (Content-Security-Policy) and caching of data.

Example:
    >>> sorted(r.path for r in ui_routes())[:3]
    ['/ui', '/ui/api/models/{name}', '/ui/api/overview']
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from modelpilot.errors import (
    BadRequestError,
    ModelPilotError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from modelpilot.serving.context import ServerContext
from modelpilot.serving.http import error_response, json_response, read_body
from modelpilot.ui import auth, data, pages
from modelpilot.ui.html import esc, login_page, page
from modelpilot.ui.rates import RequestRates
from modelpilot.ui.sections import render

__all__ = ["rates", "ui_routes"]

log = logging.getLogger(__name__)

_STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}
_NO_STORE = {**_HEADERS, "cache-control": "no-store"}
_RATES: list[RequestRates] = []


def rates() -> RequestRates:
    """This process's request-rate sampler, started on first use (the metrics it reads are per process too)."""
    if not _RATES:
        _RATES.append(RequestRates())
    return _RATES[0].start()


def _sources(ctx: ServerContext) -> data.Sources:
    src: data.Sources | None = ctx.extras.get("ui.sources")
    if src is None:
        src = ctx.extras["ui.sources"] = data.Sources.open(ctx.registry)
    return src


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=_NO_STORE)


def _message_page(title: str, message: str, hint: str, status: int) -> HTMLResponse:
    body = f'<div class="card notice"><h1>{esc(title)}</h1><p>{esc(message)}</p><p class="muted">{esc(hint)}</p></div>'
    return _html(page(title, body), status)


PageHandler = Callable[[Request, ServerContext, str | None], Awaitable[Response]]


def _page(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
    """An HTML page: anonymous visitors who must sign in are sent to the form; errors become readable pages."""

    async def endpoint(request: Request) -> Response:
        ctx: ServerContext = request.app.state.mp
        rates()
        try:
            return await handler(request, ctx, auth.viewer(request))
        except UnauthenticatedError:
            target = quote(request.url.path, safe="/")
            response: Response = RedirectResponse(f"/ui/login?next={target}", status_code=303, headers=_NO_STORE)
            if request.cookies.get(auth.COOKIE):
                auth.clear_cookie(response, request)
            return response
        except PermissionDeniedError as exc:
            return _message_page("Not allowed", exc.message, exc.hint, 403)
        except NotFoundError as exc:
            return _message_page("Not found", exc.message, exc.hint, 404)
        except ModelPilotError as exc:
            return _message_page("Error", exc.message, exc.hint, exc.http_status)
        except Exception:
            log.exception("dashboard page %s failed", request.url.path)
            return _message_page("Error", "the dashboard failed to draw this page", "the server log has details", 500)

    endpoint.__name__ = handler.__name__
    return endpoint


def _api(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
    """A JSON endpoint: 401 / 403 / 404 as JSON errors."""

    async def endpoint(request: Request) -> Response:
        ctx: ServerContext = request.app.state.mp
        rates()
        try:
            return await handler(request, ctx, auth.viewer(request))
        except Exception as exc:
            return error_response(exc, _NO_STORE)

    endpoint.__name__ = handler.__name__
    return endpoint


async def _names(ctx: ServerContext) -> list[str]:
    models = await asyncio.to_thread(ctx.registry.models)
    return [m.name for m in models]


async def overview(request: Request, ctx: ServerContext, user: str | None) -> Response:
    """The overview page."""
    src, r = _sources(ctx), rates()
    body = await asyncio.to_thread(lambda: pages.overview_page(data.overview(src, r, time.time()), user=user))
    return _html(body)


async def model(request: Request, ctx: ServerContext, user: str | None) -> Response:
    """One model's page."""
    name = request.path_params["name"]
    src, r = _sources(ctx), rates()
    names = await _names(ctx)
    detail = await asyncio.to_thread(data.model_detail, src, name, r, time.time())
    body = await asyncio.to_thread(pages.model_page, detail, models=names, user=user)
    return _html(body)


async def api_overview(request: Request, ctx: ServerContext, user: str | None) -> Response:
    """The overview as JSON (``?view=html``: its sections)."""
    src, r = _sources(ctx), rates()
    found = await asyncio.to_thread(data.overview, src, r, time.time())
    if request.query_params.get("view") == "html":
        sections = await asyncio.to_thread(pages.overview_sections, found)
        return json_response({"generated": found["generated"], "html": sections}, headers=_NO_STORE)
    return json_response(found, headers=_NO_STORE)


async def api_model(request: Request, ctx: ServerContext, user: str | None) -> Response:
    """One model as JSON (``?view=html``: its page's sections)."""
    src, r = _sources(ctx), rates()
    found = await asyncio.to_thread(data.model_detail, src, request.path_params["name"], r, time.time())
    if request.query_params.get("view") == "html":
        sections = await asyncio.to_thread(render, found)
        return json_response({"generated": found["generated"], "html": sections}, headers=_NO_STORE)
    return json_response(found, headers=_NO_STORE)


async def login_form(request: Request) -> Response:
    """The sign-in form (straight on to the dashboard when already signed in)."""
    ctx: ServerContext = request.app.state.mp
    target = auth.safe_next(request.query_params.get("next"))
    if request.cookies.get(auth.COOKIE):
        try:
            if auth.viewer(request) is not None:
                return RedirectResponse(target, status_code=303, headers=_NO_STORE)
        except ModelPilotError:
            pass
    return _html(login_page(next_path=target, required=auth.required(ctx)))


async def login(request: Request) -> Response:
    """Check the token typed into the form; keep it in the cookie and go on, or show the form again."""
    ctx: ServerContext = request.app.state.mp
    if not auth.same_origin(request):
        return _message_page("Not allowed", "sign-in from another site", "open /ui/login on this server", 403)
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return error_response(BadRequestError("send the sign-in form", hint="POST token=... as a form"), _NO_STORE)
    try:
        body = (await read_body(request, 4096)).decode("utf-8", "replace")
    except ModelPilotError as exc:
        return error_response(exc, _NO_STORE)
    try:
        fields = parse_qs(body, max_num_fields=4)
    except ValueError:  # more fields than the form has
        return error_response(BadRequestError("send the sign-in form", hint="POST token=...&next=..."), _NO_STORE)
    target = auth.safe_next((fields.get("next") or ["/ui"])[0])
    token = (fields.get("token") or [""])[0]
    try:
        auth.sign_in(ctx, token)
    except (UnauthenticatedError, PermissionDeniedError) as exc:
        status = 403 if isinstance(exc, PermissionDeniedError) else 401
        return _html(login_page(next_path=target, message=exc.message, required=auth.required(ctx)), status)
    response = RedirectResponse(target, status_code=303, headers=_NO_STORE)
    auth.set_cookie(response, request, token)
    return response


async def logout(request: Request) -> Response:
    """Forget the sign-in cookie."""
    if not auth.same_origin(request):
        return _message_page("Not allowed", "sign-out from another site", "use the dashboard's own button", 403)
    response = RedirectResponse("/ui/login", status_code=303, headers=_NO_STORE)
    auth.clear_cookie(response, request)
    return response


@cache
def _asset(name: str) -> bytes:
    return resources.files("modelpilot.ui").joinpath("static", name).read_bytes()


async def static(request: Request) -> Response:
    """A packaged static file (only the known ones; nothing else of the package is reachable)."""
    name = request.path_params["file"]
    media = _STATIC.get(name)
    if media is None:
        return error_response(NotFoundError(f"no static file {name!r}"), _HEADERS)
    return Response(_asset(name), headers={**_HEADERS, "content-type": media, "cache-control": "max-age=60"})


def ui_routes() -> list[Route]:
    """Every dashboard route."""
    return [
        Route("/ui", _page(overview), methods=["GET"]),
        Route("/ui/models/{name}", _page(model), methods=["GET"]),
        Route("/ui/api/overview", _api(api_overview), methods=["GET"]),
        Route("/ui/api/models/{name}", _api(api_model), methods=["GET"]),
        Route("/ui/login", login_form, methods=["GET"]),
        Route("/ui/login", login, methods=["POST"]),
        Route("/ui/logout", logout, methods=["POST"]),
        Route("/ui/static/{file}", static, methods=["GET"]),
    ]
