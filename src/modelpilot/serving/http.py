"""HTTP helpers shared by every route: bounded body reads, JSON responses, and the one error mapping.

Every deliberate error becomes ``{"error": message, "code": ..., "hint": ...}`` with its HTTP status; anything
else becomes a 500 whose body says only that the server failed (the traceback goes to the log, never the caller).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelpilot.errors import (
    BadRequestError,
    ModelPilotError,
    PayloadTooLargeError,
    PermissionDeniedError,
    UnsupportedMediaTypeError,
)

__all__ = ["check_request", "error_response", "json_response", "read_body", "read_json", "same_origin"]

log = logging.getLogger(__name__)

_JSON = "application/json"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response encoded with orjson (numpy arrays allowed)."""
    body = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return Response(body, status_code=status, media_type=_JSON, headers=headers)


def error_response(exc: BaseException, headers: dict[str, str] | None = None) -> Response:
    """The response for an error: its own status and body when deliberate, a bare 500 otherwise."""
    if isinstance(exc, ModelPilotError):
        return json_response(exc.to_dict(), exc.http_status, headers)
    log.error("unhandled error answering a request", exc_info=exc)
    return json_response(
        {"error": "internal server error; the server log has the details", "code": "internal"}, 500, headers
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise BadRequestError("Content-Length is not a number", hint="send a valid Content-Length") from None
        if declared > limit:
            raise PayloadTooLargeError(
                f"request body is {declared} bytes, more than this server's limit of {limit}",
                hint="send fewer rows per request, or raise serving.max_body_bytes",
            )
        return await request.body()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"request body passed this server's limit of {limit} bytes",
                hint="send fewer rows per request, or raise serving.max_body_bytes",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def same_origin(request: Request) -> bool:
    """Whether a request comes from this site's own pages (browsers send ``Origin`` with every POST; a request
    without one is not from a browser page, so there is no victim to forge it for)."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host", "")


def check_request(request: Request, *, binary: bool = False, any_type: bool = False) -> None:
    """Refuse what a web page on another site could make a browser send here without asking first (a CORS
    "simple request"): a body that is a form or plain text (415: JSON routes take ``application/json`` or a
    ``+json`` type; ``binary`` routes also ``application/octet-stream``), and a request whose ``Origin`` is another
    site (403). Clients other than browsers send no ``Origin``, and may leave the Content-Type out."""
    ctype = request.headers.get("content-type")
    if ctype is not None and not any_type:
        media = ctype.split(";", 1)[0].strip().lower()
        fits = media == _JSON or media.endswith("+json") or (binary and media == "application/octet-stream")
        if not fits:
            raise UnsupportedMediaTypeError(
                f"Content-Type {media[:60]!r} is not read here",
                hint="send Content-Type: application/json"
                + (" (or application/octet-stream for binary tensors)" if binary else ""),
            )
    if not same_origin(request):
        origin = request.headers.get("origin", "")
        raise PermissionDeniedError(
            f"a request from the web page of another site ({origin[:80]})",
            hint="call this API from your own service, not from a browser page of another site",
        )


async def read_json(request: Request, limit: int) -> Any:
    """The body parsed as JSON (400 naming the problem when it is not; 415 or 403 as :func:`check_request`)."""
    check_request(request)
    body = await read_body(request, limit)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"request body is not valid JSON: {exc}", hint="send a JSON document") from None
