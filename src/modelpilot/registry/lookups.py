"""What event intake asks the registry about a model, answered from a short-lived cache.

KServe logger pairs name a model (``inferenceservicename``) but usually no version, and positional ``instances``
need the model's feature names. Both come from the registry, which is a database query each; an intake that
decodes thousands of pairs a second asks the same few questions over and over. :class:`ModelLookups` answers them
from memory for ``ttl_s`` seconds (an alias moved or a version registered is seen within that time), for at most
``max_models`` names. A name or version the registry does not know is asked again after ``miss_ttl_s`` (1 s), so
a stream of made-up names costs one query a second each, not one per event, and a model registered a moment ago is
found within a second; the caches start afresh when full, so made-up names cannot grow them.

    >>> calls = []
    >>> class Fake:
    ...     production_alias = "production"
    ...     def resolve(self, name, ref):
    ...         calls.append(name)
    ...         return type("V", (), {"version": 3})()
    >>> lookups = ModelLookups(Fake(), clock=lambda: 0.0)
    >>> lookups.version_of("credit"), lookups.version_of("credit"), calls
    (3, 3, ['credit'])
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from modelpilot.errors import InvalidInputError, NotFoundError

__all__ = ["ModelLookups"]


class ModelLookups:
    """The production version and the feature names of registered models, each cached for ``ttl_s`` seconds.

    Parameters
    ----------
    registry
        A :class:`~modelpilot.registry.Registry` (anything with ``resolve``, ``versions`` and
        ``production_alias``).
    ttl_s
        How long an answer is reused.
    max_models
        Names held at most; the cache starts afresh when full.
    clock
        Seconds.
    """

    def __init__(
        self,
        registry: Any,
        *,
        ttl_s: float = 5.0,
        miss_ttl_s: float = 1.0,
        max_models: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.ttl_s = ttl_s
        self.miss_ttl_s = miss_ttl_s
        self.max_models = max_models
        self._missing: dict[str, float] = {}  # names the registry did not know, and when it said so
        self.clock = clock
        self._versions: dict[str, tuple[float, int]] = {}
        self._names: dict[str, tuple[float, list[str] | None]] = {}
        self._known: dict[str, tuple[float, frozenset[int]]] = {}

    def version_of(self, model: str) -> int:
        """The version of ``model`` its production alias points to, else its latest; InvalidInputError if the
        model is not registered."""
        now = self.clock()
        held = self._versions.get(model)
        if held is not None and now - held[0] < self.ttl_s:
            return held[1]
        self._refuse_if_missing(model, now)
        found = self._lookup_version(model)
        self._keep(self._versions, model, (now, found))
        return found

    def feature_names(self, model: str) -> list[str] | None:
        """The feature names of the latest version of ``model``'s signature, or ``None`` if it is unknown."""
        now = self.clock()
        held = self._names.get(model)
        if held is not None and now - held[0] < self.ttl_s:
            return held[1]
        if now - self._missing.get(model, -math.inf) < self.miss_ttl_s:
            return None
        try:
            found: list[str] | None = list(self.registry.versions(model)[-1].signature.names)
        except NotFoundError:
            self._keep(self._missing, model, now)
            return None
        except (IndexError, AttributeError):
            return None  # no signature: asked again next time
        self._keep(self._names, model, (now, found))
        return found

    def check(self, model: str, version: int) -> None:
        """Nothing if ``model`` has version ``version``; else NotFoundError naming what exists (events for models
        and versions the registry does not know are refused at the door, not carried into the monitor)."""
        now = self.clock()
        held = self._known.get(model)
        age = math.inf if held is None else now - held[0]
        if age >= self.ttl_s or (held is not None and version not in held[1] and age >= self.miss_ttl_s):
            self._refuse_if_missing(model, now, error=NotFoundError)
            try:
                numbers = frozenset(v.version for v in self.registry.versions(model))
            except NotFoundError:
                self._keep(self._missing, model, now)
                raise NotFoundError(
                    f"model {model[:80]!r} is not registered", hint="register it: modelpilot register NAME ..."
                ) from None
            self._keep(self._known, model, (now, numbers))
            held = self._known[model]
        assert held is not None
        if version not in held[1]:
            raise NotFoundError(
                f"model {model[:80]!r} has no version {version}",
                hint=f"its versions: {', '.join(map(str, sorted(held[1])[-10:])) or 'none'}",
            )

    def _refuse_if_missing(
        self, model: str, now: float, *, error: type[NotFoundError | InvalidInputError] = InvalidInputError
    ) -> None:
        if now - self._missing.get(model, -math.inf) < self.miss_ttl_s:
            raise error(f"model {model[:80]!r} is not registered", hint="register it: modelpilot register NAME ...")

    def _keep(self, cache: dict[str, Any], model: str, value: Any) -> None:
        if model not in cache and len(cache) >= self.max_models:
            cache.clear()
        cache[model] = value

    def _lookup_version(self, model: str) -> int:
        try:
            return int(self.registry.resolve(model, self.registry.production_alias).version)
        except NotFoundError:
            pass
        try:
            versions = self.registry.versions(model)
        except NotFoundError:
            versions = []
        if not versions:
            self._keep(self._missing, model, self.clock())
            raise InvalidInputError(
                f"model {model!r} is not registered", hint="register it: modelpilot register NAME --external ..."
            )
        return int(versions[-1].version)
