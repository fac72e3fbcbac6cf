"""Dead letters: why a request message could not be answered, as a fixed kind and headers (pure).

A dead letter keeps the request's key, value and headers, and adds ``modelpilot-error`` (the reason, naming the
field when the input is wrong), ``modelpilot-error-kind``, ``modelpilot-error-hint`` (how to fix it, when known),
and where the request came from: ``modelpilot-source-topic``, ``-partition`` and ``-offset``.

Example:
    >>> from modelpilot.errors import InvalidInputError
    >>> exc = InvalidInputError("instances[0]: unknown feature(s) ['x3']", hint="the model's features are x1, x2")
    >>> kind_of(exc)
    'invalid_input'
    >>> dict(error_headers(None, exc, topic="requests", partition=2, offset=41))["modelpilot-source-offset"]
    b'41'
"""

from __future__ import annotations

from typing import Literal

from modelpilot.errors import (
    BadRequestError,
    InvalidInputError,
    ModelError,
    ModelPilotError,
    ModelTimeoutError,
    NotFoundError,
    PayloadTooLargeError,
    UnavailableError,
)
from modelpilot.streaming.codec import Headers

__all__ = ["KINDS", "Kind", "dead_letter_headers", "error_headers", "kind_of", "reason_of"]

Kind = Literal[
    "parse",
    "invalid_input",
    "unknown_model",
    "model_error",
    "model_timeout",
    "unavailable",
    "internal",
    "undeliverable",
]

KINDS: tuple[Kind, ...] = (
    "parse",
    "invalid_input",
    "unknown_model",
    "model_error",
    "model_timeout",
    "unavailable",
    "internal",
    "undeliverable",
)
"""Every dead-letter kind (the ``outcome`` label of ``modelpilot_stream_messages_total`` besides ``ok``)."""

_BY_TYPE: tuple[tuple[type[ModelPilotError], Kind], ...] = (
    (BadRequestError, "parse"),
    (PayloadTooLargeError, "invalid_input"),
    (InvalidInputError, "invalid_input"),
    (NotFoundError, "unknown_model"),
    (ModelTimeoutError, "model_timeout"),
    (UnavailableError, "unavailable"),
    (ModelError, "model_error"),
)


def kind_of(exc: BaseException) -> Kind:
    """The dead-letter kind of an error.

    >>> kind_of(ValueError("bug")), kind_of(ModelError("model 'credit' v3 failed: RuntimeError"))
    ('internal', 'model_error')
    """
    for cls, kind in _BY_TYPE:
        if isinstance(exc, cls):
            return kind
    return "model_error" if isinstance(exc, ModelPilotError) else "internal"


def reason_of(exc: BaseException) -> str:
    """The reason text: a deliberate error's message; only the type of anything else (details go to the log).

    >>> reason_of(KeyError("secret"))
    'internal error (KeyError); the stream worker log has the details'
    """
    if isinstance(exc, ModelPilotError):
        return exc.message
    return f"internal error ({type(exc).__name__}); the stream worker log has the details"


def dead_letter_headers(
    original: Headers, *, kind: Kind, reason: str, hint: str = "", topic: str, partition: int, offset: int
) -> list[tuple[str, bytes | None]]:
    """The request's own headers (earlier dead-letter headers left out) plus the reason and the source position."""
    out = [(k, v) for k, v in original or () if not k.lower().startswith(("modelpilot-error", "modelpilot-source-"))]
    out.append(("modelpilot-error", reason.encode("utf-8", "replace")))
    out.append(("modelpilot-error-kind", kind.encode()))
    if hint:
        out.append(("modelpilot-error-hint", hint.encode("utf-8", "replace")))
    out.append(("modelpilot-source-topic", topic.encode("utf-8", "replace")))
    out.append(("modelpilot-source-partition", str(partition).encode()))
    out.append(("modelpilot-source-offset", str(offset).encode()))
    return out


def error_headers(
    original: Headers, exc: BaseException, *, topic: str, partition: int, offset: int
) -> list[tuple[str, bytes | None]]:
    """:func:`dead_letter_headers` for an error: its kind, its reason and its hint."""
    hint = exc.hint if isinstance(exc, ModelPilotError) else ""
    return dead_letter_headers(
        original, kind=kind_of(exc), reason=reason_of(exc), hint=hint, topic=topic, partition=partition, offset=offset
    )
