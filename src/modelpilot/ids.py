"""Identifiers from outside, checked in one place: version numbers and bounded ids.

Every route, event and command that takes a version or an id from a client parses it here, so the bounds are the
same everywhere: a version is an integer from 1 to :data:`MAX_VERSION` (``3``, ``"3"`` or ``"v3"``; never a bool,
never thousands of digits), an id or name has 1 to :data:`MAX_ID_CHARS` characters.

    >>> version_number("v3"), version_number(7)
    (3, 7)
    >>> version_number("9" * 40)
    Traceback (most recent call last):
    ...
    modelpilot.errors.InvalidInputError: version: '99999999999999999999' is not a version number
"""

from __future__ import annotations

from typing import Any

from modelpilot.errors import InvalidInputError, ModelPilotError

__all__ = ["MAX_ID_CHARS", "MAX_VERSION", "bounded_id", "version_number"]

MAX_VERSION = 2**31 - 1
"""Largest version number (what a 32-bit signed column holds, in SQLite and PostgreSQL alike)."""
MAX_ID_CHARS = 256
"""Longest request id, model, feature or class name taken from outside."""


def version_number(value: Any, where: str = "version", *, error: type[ModelPilotError] = InvalidInputError) -> int:
    """An integer from 1 to :data:`MAX_VERSION` from ``value`` (an int, or its digits with an optional ``v``);
    else ``error`` naming ``where``."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer() and abs(value) < 2**53:  # 3.0 from a JSON producer
        number = int(value)
    elif isinstance(value, str):
        digits = value[1:] if value[:1] == "v" else value
        if digits.isascii() and digits.isdigit() and len(digits) <= 10:
            number = int(digits)
    if number is None or not 1 <= number <= MAX_VERSION:
        shown = str(value)[:20] if isinstance(value, str | int) else type(value).__name__
        raise error(f"{where}: {shown!r} is not a version number", hint=f"an integer from 1 to {MAX_VERSION}, e.g. 3")
    return number


def bounded_id(value: Any, where: str) -> str:
    """``value`` (a string, or an integer) as a string of 1 to :data:`MAX_ID_CHARS` characters, or
    InvalidInputError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInputError(f"{where}: expected a string", hint=f"at most {MAX_ID_CHARS} characters")
    text = str(value) if isinstance(value, str) or abs(value) < 10**20 else ""
    if not text or len(text) > MAX_ID_CHARS:
        raise InvalidInputError(
            f"{where}: {len(text) if text else 'no'} characters",
            hint=f"send 1 to {MAX_ID_CHARS} characters (a request id, a name)",
        )
    return text
