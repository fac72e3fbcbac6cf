"""Parameter and state checks shared by the detectors: each failure is an InvalidInputError that names the
parameter and its valid range.

Example:
    >>> check_real("ADWIN", "delta", 0.01, low=0.0, high=1.0, low_open=True, high_open=True)
    0.01
    >>> check_int("ADWIN", "clock", 0, low=1)
    Traceback (most recent call last):
    ...
    modelpilot.errors.InvalidInputError: ADWIN: clock=0 is out of range; it must be a whole number ≥ 1
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from modelpilot.errors import InvalidInputError

__all__ = ["DIRECTIONS", "Direction", "bad_state", "check_direction", "check_int", "check_real"]

Direction = Literal["up", "down", "both"]
DIRECTIONS: tuple[Direction, ...] = ("up", "down", "both")


def check_real(
    owner: str,
    param: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float within the given bounds, or an InvalidInputError naming the parameter."""
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    span = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    v = float(value) if ok else math.nan
    if ok and math.isfinite(v):
        below = low is not None and (v < low or (low_open and v == low))
        above = high is not None and (v > high or (high_open and v == high))
        if not below and not above:
            return v
    raise InvalidInputError(
        f"{owner}: {param}={value!r} is out of range; it must be a number in {span}",
        hint=f"pass {param} as a number in {span}",
    )


def check_int(owner: str, param: str, value: Any, *, low: int) -> int:
    """``value`` as an int ≥ ``low``, or an InvalidInputError naming the parameter."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= low:
        return int(value)
    raise InvalidInputError(
        f"{owner}: {param}={value!r} is out of range; it must be a whole number ≥ {low}",
        hint=f"pass {param} as an int ≥ {low}",
    )


def check_direction(owner: str, value: Any) -> Direction:
    """``value`` as one of ``up``, ``down``, ``both``."""
    for d in DIRECTIONS:
        if value == d:
            return d
    raise InvalidInputError(
        f"{owner}: direction={value!r} is not one of {', '.join(DIRECTIONS)}",
        hint="'up' watches for a rise (error rate, latency), 'down' for a fall, 'both' for either",
    )


def bad_state(owner: str, why: str) -> InvalidInputError:
    return InvalidInputError(
        f"{owner}: the state to restore is malformed ({why})", hint="pass a dict made by to_state()"
    )
