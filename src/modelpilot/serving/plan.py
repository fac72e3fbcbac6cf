"""Traffic plans and the router that applies one to each request (pure: no I/O, injected randomness).

A plan names the stable version, an optional canary with a weight in percent (fractions allowed), shadow versions
with sample rates, and an optional sticky key. Without a sticky key a request goes to the canary with probability
``weight / 100``. With one, the key is hashed (BLAKE2b, salted with the model name) to a point in [0, 100): the
same key always lands on the same variant, and raising the weight only moves keys from stable to canary, never back.

Example:
    >>> import random
    >>> plan = TrafficPlan(model="credit", stable=1, canary=2, weight=25.0, sticky_header="X-User")
    >>> router = Router(plan, rng=random.Random(7))
    >>> {router.choose("user-42") for _ in range(5)} == {router.choose("user-42")}
    True
    >>> TrafficPlan(model="credit", stable=1, canary=1, weight=5)
    Traceback (most recent call last):
    ...
    modelpilot.errors.InvalidInputError: canary: version 1 is already the stable version
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelpilot.errors import InvalidInputError

__all__ = ["Choice", "Router", "Shadow", "TrafficPlan", "sticky_point", "sticky_text"]


@dataclass(frozen=True, slots=True)
class Shadow:
    """A version that gets a copy of a sampled share of requests; its answers never reach callers."""

    version: int
    rate: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.rate, int | float) and 0.0 < self.rate <= 1.0 and math.isfinite(self.rate)):
            raise InvalidInputError(
                f"shadow v{self.version}: rate {self.rate!r} is not in (0, 1]",
                hint="give the share of requests to copy, e.g. --shadow 3:0.1 for 10%",
            )


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    """How one model's requests are split between its versions."""

    model: str
    stable: int
    canary: int | None = None
    weight: float = 0.0
    shadows: tuple[Shadow, ...] = ()
    sticky_header: str | None = None
    sticky_field: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.stable, int) or self.stable < 1:
            raise InvalidInputError(f"stable: {self.stable!r} is not a version number", hint="e.g. --stable 3")
        w = self.weight
        if not isinstance(w, int | float) or not math.isfinite(w) or not 0.0 <= w <= 100.0:
            raise InvalidInputError(
                f"weight: {w!r} is not a percentage in [0, 100]", hint="e.g. --weight 5 (fractions like 0.5 work)"
            )
        if self.canary is None and w > 0:
            raise InvalidInputError("weight: a canary weight needs a canary version", hint="add --canary V")
        if self.canary is not None and self.canary == self.stable:
            raise InvalidInputError(
                f"canary: version {self.canary} is already the stable version", hint="pick another version"
            )
        seen: set[int] = set()
        for s in self.shadows:
            if s.version in seen:
                raise InvalidInputError(f"shadows: version {s.version} is listed twice", hint="list it once")
            if s.version in (self.stable, self.canary):
                raise InvalidInputError(
                    f"shadows: version {s.version} already serves callers (stable or canary)",
                    hint="shadow a version that is neither stable nor canary",
                )
            seen.add(s.version)
        if self.sticky_header is not None and self.sticky_field is not None:
            raise InvalidInputError(
                "sticky: give a header or an input field, not both", hint="drop --sticky-header or --sticky-field"
            )
        if self.sticky_header is not None and not self.sticky_header.strip():
            raise InvalidInputError("sticky_header: empty header name", hint="e.g. --sticky-header X-User-Id")

    @property
    def versions(self) -> tuple[int, ...]:
        """Every version the plan needs loaded: stable, canary, shadows."""
        out = [self.stable]
        if self.canary is not None:
            out.append(self.canary)
        out.extend(s.version for s in self.shadows)
        return tuple(out)

    def role_of(self, version: int) -> str | None:
        """The variant a version plays in this plan, if any."""
        if version == self.stable:
            return "stable"
        if version == self.canary:
            return "canary"
        if any(s.version == version for s in self.shadows):
            return "shadow"
        return None

    def to_json(self) -> dict[str, Any]:
        """The stored and API form."""
        return {
            "model": self.model,
            "stable": self.stable,
            "canary": self.canary,
            "weight": self.weight,
            "shadows": [{"version": s.version, "rate": s.rate} for s in self.shadows],
            "sticky_header": self.sticky_header,
            "sticky_field": self.sticky_field,
            **({"extra": dict(self.extra)} if self.extra else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrafficPlan:
        """Read the stored form back (validated again)."""
        return cls(
            model=str(data["model"]),
            stable=int(data["stable"]),
            canary=None if data.get("canary") is None else int(data["canary"]),
            weight=float(data.get("weight") or 0.0),
            shadows=tuple(Shadow(int(s["version"]), float(s.get("rate", 1.0))) for s in data.get("shadows") or ()),
            sticky_header=data.get("sticky_header"),
            sticky_field=data.get("sticky_field"),
            extra=dict(data.get("extra") or {}),
        )


def sticky_point(model: str, key: str) -> float:
    """Where a sticky key falls in [0, 100) for a model (stable across processes and restarts).

    >>> sticky_point("credit", "user-1") == sticky_point("credit", "user-1")
    True
    """
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8, key=model.encode("utf-8")[:64]).digest()
    return int.from_bytes(digest, "big") / 2**64 * 100.0


def sticky_text(value: object) -> str:
    """A sticky key's text, the same whichever protocol carried it (``31``, ``31.0`` and ``b"31"`` agree).

    >>> sticky_text(31), sticky_text(31.0), sticky_text(b"31"), sticky_text("u-7")
    ('31', '31', '31', 'u-7')
    """
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True, slots=True)
class Choice:
    """Where one request goes."""

    version: int
    variant: str


class Router:
    """Applies one plan: picks stable or canary per request and samples shadow copies.

    Parameters
    ----------
    plan
        The plan to apply.
    rng
        Source of randomness for unkeyed requests and shadow sampling (seed it in tests).
    """

    def __init__(self, plan: TrafficPlan, *, rng: random.Random | None = None) -> None:
        self.plan = plan
        self._rng = rng or random.Random()
        self._stable = Choice(plan.stable, "stable")
        self._canary = Choice(plan.canary, "canary") if plan.canary is not None and plan.weight > 0 else None

    def choose(self, sticky_key: str | None = None) -> Choice:
        """The version and variant for one request (``sticky_key`` from the plan's header or field)."""
        if self._canary is None:
            return self._stable
        point = sticky_point(self.plan.model, sticky_key) if sticky_key is not None else self._rng.random() * 100.0
        return self._canary if point < self.plan.weight else self._stable

    def shadows(self) -> list[int]:
        """The shadow versions that get a copy of this request."""
        if not self.plan.shadows:
            return []
        rnd = self._rng.random
        return [s.version for s in self.plan.shadows if s.rate >= 1.0 or rnd() < s.rate]
