"""The web dashboard at ``/ui``: models, traffic, drift, data quality, performance, SLOs, rollouts and the audit
log, drawn as SVG by the server and refreshed live from JSON endpoints; no CDN, every asset inside this package."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.routing import Route

__all__ = ["openapi_paths", "ui_routes"]


def ui_routes() -> list[Route]:
    """Every dashboard route, for the server's route list (see :mod:`modelpilot.ui.routes`).

    Imported when called: the server imports this package, and the routes import the server's helpers.
    """
    from modelpilot.ui.routes import ui_routes as routes

    return routes()


def openapi_paths() -> dict[str, dict[str, Any]]:
    """The dashboard's routes as OpenAPI 3.1 path items, for the server's ``/openapi.json``.

    >>> sorted(openapi_paths())[:2]
    ['/ui', '/ui/api/models/{name}']
    """
    role = "operate, as a bearer token or the sign-in cookie (none on a loopback bind without inference auth)"
    as_json: dict[str, Any] = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    error = {"description": "error", "content": as_json}

    page_error = {"description": "error: a page, or JSON", "content": {"text/html": {}, **as_json}}

    def op(summary: str, ok: str, media: str, errors: tuple[int, ...], *, auth: bool = True) -> dict[str, Any]:
        failed = page_error if media == "text/html" else error  # pages answer errors with pages, mostly
        out: dict[str, Any] = {
            "summary": summary,
            "tags": ["dashboard"],
            "responses": {"200": {"description": ok, "content": {media: {}}}, **{str(c): failed for c in errors}},
        }
        if auth:
            out["security"] = [{"bearer": []}]
            out["x-modelpilot-role"] = role
        return out

    name = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    view = [{"name": "view", "in": "query", "required": False, "schema": {"type": "string", "enum": ["html"]}}]
    html, json = "text/html", "application/json"
    return {
        "/ui": {"get": op("Dashboard: every model (303 to /ui/login when signing in is needed)", "page", html, ())},
        "/ui/models/{name}": {
            "get": {**op("Dashboard: one model", "page", html, (403, 404)), "parameters": name},
        },
        "/ui/api/overview": {
            "get": {**op("Dashboard data: every model", "the overview", json, (401, 403)), "parameters": view},
        },
        "/ui/api/models/{name}": {
            "get": {**op("Dashboard data: one model", "the model", json, (401, 403, 404)), "parameters": name + view},
        },
        "/ui/login": {
            "get": op("Dashboard sign-in form", "page", html, (), auth=False),
            "post": {
                **op(
                    "Sign in: a token of role operate, kept in an HttpOnly cookie (303 on success)",
                    "page",
                    html,
                    (400, 401, 403),
                    auth=False,
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["token"],
                                "properties": {"token": {"type": "string"}, "next": {"type": "string"}},
                            }
                        }
                    },
                },
            },
        },
        "/ui/logout": {"post": op("Sign out: forget the cookie (303 to the form)", "page", html, (403,), auth=False)},
        "/ui/static/{file}": {
            "get": {
                **op("Dashboard stylesheet, script and icon", "the file", "*/*", (404,), auth=False),
                "parameters": [{**name[0], "name": "file"}],
            },
        },
    }
