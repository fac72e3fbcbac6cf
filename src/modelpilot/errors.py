"""The one home for modelpilot's errors.

Every error the product raises on purpose derives from :class:`ModelPilotError`. Each carries a stable ``code``
(for scripts and API clients), the HTTP status the server answers with, the exit code the CLI ends with, and a
``hint`` that tells the reader how to fix it. The CLI prints ``error: <message>`` then ``  fix: <hint>``; the server
(added by the serving issue) maps the same object to ``{"error": ...}`` in one middleware.

Example:
    >>> err = NotFoundError("model 'credit' is not registered", hint="list models with: modelpilot models")
    >>> err.code, err.http_status, err.exit_code
    ('not_found', 404, 2)
    >>> print(err.render())
    model 'credit' is not registered
      fix: list models with: modelpilot models
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ArtifactError",
    "AuditChainError",
    "BadRequestError",
    "ConfigError",
    "ConflictError",
    "GateFailedError",
    "InvalidInputError",
    "ModelError",
    "ModelPilotError",
    "ModelTimeoutError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "StoreError",
    "TrustError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnsupportedMediaTypeError",
]


class ModelPilotError(Exception):
    """Base of every deliberate modelpilot error.

    Parameters
    ----------
    message
        One line naming what is wrong (and the field or file it concerns).
    hint
        One line saying how to fix it; empty when there is nothing useful to add.
    details
        Structured facts for machine readers (JSON-serialisable).
    """

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 2

    def __init__(self, message: str, *, hint: str = "", details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details: dict[str, Any] = dict(details or {})

    def render(self) -> str:
        """Return the message and, when there is one, the fix on a second line."""
        return self.message if not self.hint else f"{self.message}\n  fix: {self.hint}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON body the server answers with."""
        body: dict[str, Any] = {"error": self.message, "code": self.code}
        if self.hint:
            body["hint"] = self.hint
        if self.details:
            body["details"] = self.details
        return body


class InvalidInputError(ModelPilotError):
    """A request, file or option is malformed or does not fit what it must match."""

    code = "invalid_input"
    http_status = 422


class ConfigError(InvalidInputError):
    """The settings tree (environment, YAML file or CLI option) is invalid."""

    code = "invalid_config"


class NotFoundError(ModelPilotError):
    """A model, version, alias or other named thing does not exist."""

    code = "not_found"
    http_status = 404


class ConflictError(ModelPilotError):
    """The request conflicts with the current state (e.g. a duplicate name)."""

    code = "conflict"
    http_status = 409


class ArtifactError(ModelPilotError):
    """An artifact is missing, unreadable, or its content does not match its recorded digest."""

    code = "artifact_error"
    http_status = 500


class TrustError(ModelPilotError):
    """Loading would run code or unpickle objects that nobody has explicitly trusted."""

    code = "untrusted"
    http_status = 403


class GateFailedError(ModelPilotError):
    """A promotion gate refused the move; ``details['rules']`` holds each rule's result."""

    code = "gate_failed"
    http_status = 409
    exit_code = 1


class AuditChainError(ModelPilotError):
    """The audit chain does not verify; ``details['seq']`` names the first bad entry."""

    code = "audit_chain_broken"
    http_status = 500
    exit_code = 1


class StoreError(ModelPilotError):
    """The store cannot be reached or is at a schema this build does not know."""

    code = "store_error"
    http_status = 503


class BadRequestError(ModelPilotError):
    """A request body cannot be parsed at all (not JSON, a broken binary header, a wrong content length)."""

    code = "bad_request"
    http_status = 400


class UnsupportedMediaTypeError(ModelPilotError):
    """A request body sent with a Content-Type the route does not read (a form or plain text where JSON is due:
    what a web page on another site can send without the browser asking the server first)."""

    code = "unsupported_media_type"
    http_status = 415


class PayloadTooLargeError(ModelPilotError):
    """A request body or batch is larger than the server's configured limit."""

    code = "payload_too_large"
    http_status = 413


class UnauthenticatedError(ModelPilotError):
    """A route needs a bearer token and none, or an unknown or revoked one, was sent."""

    code = "unauthenticated"
    http_status = 401


class PermissionDeniedError(ModelPilotError):
    """The token is valid but its role does not allow this route."""

    code = "permission_denied"
    http_status = 403


class UnavailableError(ModelPilotError):
    """The server or a model is not ready (still loading, draining, or over its concurrency cap)."""

    code = "unavailable"
    http_status = 503


class ModelTimeoutError(ModelPilotError):
    """A model did not answer within its timeout."""

    code = "model_timeout"
    http_status = 504


class ModelError(ModelPilotError):
    """The model's own code raised while predicting."""

    code = "model_error"
    http_status = 500
