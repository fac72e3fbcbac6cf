"""Comparing window results taken in different batches: counts exactly, float sums to rounding."""

from __future__ import annotations

import math
from typing import Any


def assert_close(a: Any, b: Any, path: str = "") -> None:
    """``a`` and ``b`` (nested dicts and lists of plain values) are equal, floats to a relative 1e-7."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for j, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{path}[{j}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b)), (path, a, b)
    else:
        assert a == b, (path, a, b)
