"""Who may see the dashboard, and its sign-in cookie.

The dashboard follows inference's rule, made stricter: anonymous visitors see it only when the server binds to a
loopback address *and* inference needs no token there (``auth.inference_required`` not set to true). Otherwise every
page and JSON endpoint needs a token of role ``operate`` (or ``admin``): sent as ``Authorization: Bearer`` (scripts,
API clients), or kept by the browser in the cookie the sign-in form sets. The cookie holds the token itself, is
``HttpOnly`` (no script can read it), ``SameSite=Strict`` (no other site's page can make the browser send it) and
scoped to ``/ui``; the server checks it against the hashed token table on every request, so revoking the token signs
the browser out at the next poll. Tokens are never logged or echoed.

Example:
    >>> safe_next("/ui/models/credit"), safe_next("https://evil.example/"), safe_next("//evil.example")
    ('/ui/models/credit', '/ui', '/ui')
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from modelpilot.auth import Principal, Role
from modelpilot.errors import PermissionDeniedError, UnauthenticatedError
from modelpilot.serving.context import ServerContext, is_loopback
from modelpilot.serving.http import same_origin  # one home for the Origin rule, re-exported here

__all__ = ["COOKIE", "clear_cookie", "required", "safe_next", "same_origin", "set_cookie", "sign_in", "viewer"]

log = logging.getLogger(__name__)

COOKIE = "modelpilot_ui"
_MAX_AGE_S = 12 * 3600
_HINT = "sign in at /ui/login, or send 'Authorization: Bearer <token>' with a token of role operate"


def required(ctx: ServerContext) -> bool:
    """Whether the dashboard needs a token on this server."""
    return ctx.inference_auth or not is_loopback(ctx.settings.serving.host)


def _check_role(principal: Principal) -> Principal:
    if not principal.role.allows(Role.operate):
        raise PermissionDeniedError(
            f"token {principal.name!r} has role {principal.role.value}; the dashboard needs operate",
            hint="use a token with role operate or admin (modelpilot token create --name NAME --role operate)",
        )
    return principal


def viewer(request: Request) -> str | None:
    """The name of the token the request is signed in with, or ``None`` for an anonymous visitor the server lets
    in (loopback); raises 401 / 403 (:class:`~modelpilot.errors.ModelPilotError`) otherwise."""
    ctx: ServerContext = request.app.state.mp
    header = request.headers.get("authorization")
    if header is not None:
        return _check_role(ctx.token_table.authenticate(header)).name
    cookie = request.cookies.get(COOKIE)
    if cookie:
        try:
            return _check_role(ctx.token_table.authenticate(f"Bearer {cookie}")).name
        except (UnauthenticatedError, PermissionDeniedError):
            if required(ctx):
                raise UnauthenticatedError("the dashboard sign-in is no longer valid", hint=_HINT) from None
    if required(ctx):
        raise UnauthenticatedError("the dashboard needs a token of role operate", hint=_HINT)
    return None


def sign_in(ctx: ServerContext, token: str) -> Principal:
    """The principal of a token typed into the sign-in form (401 / 403 when it will not do)."""
    secret = token.strip()
    if not secret or len(secret) > 512 or any(c.isspace() for c in secret):
        raise UnauthenticatedError("that is not an API token", hint="paste the whole token, mp_...")
    principal = _check_role(ctx.token_table.authenticate(f"Bearer {secret}"))
    log.info("dashboard: token %r signed in", principal.name)
    return principal


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def set_cookie(response: Response, request: Request, token: str) -> None:
    """Keep the token in the browser for ``/ui`` (HttpOnly, SameSite=Strict, Secure over HTTPS)."""
    response.set_cookie(
        COOKIE,
        token.strip(),
        max_age=_MAX_AGE_S,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def clear_cookie(response: Response, request: Request) -> None:
    """Forget the sign-in."""
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict", secure=_secure(request))


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a path of this dashboard, never another site."""
    if not path or not path.startswith("/ui") or path.startswith("//") or "\\" in path:
        return "/ui"
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return "/ui"
    return path
