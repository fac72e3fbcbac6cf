"""The detector contract: the ``Detector`` Protocol, the registry of detectors by name, and the base class that
gives every built-in detector the same input checks, counters and JSON state envelope.

A detector watches one scalar stream (an error indicator, a latency, a loss) and says when its mean has changed.
Built-in detectors register themselves when :mod:`modelpilot.monitoring.detectors` is imported.

Example:
    >>> from modelpilot.monitoring.detectors import DETECTORS, make_detector
    >>> sorted(DETECTORS)
    ['adwin', 'cusum', 'page_hinkley']
    >>> detector = make_detector("cusum", k=0.25, h=20.0)
    >>> detector.update(0.0).update(1.0).n_seen
    2
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Protocol, Self, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt

from modelpilot.errors import ConflictError, InvalidInputError
from modelpilot.monitoring.detectors._checks import DIRECTIONS, Direction, bad_state

__all__ = [
    "DETECTORS",
    "DIRECTIONS",
    "BaseDetector",
    "Detector",
    "Direction",
    "make_detector",
    "register_detector",
]
STATE_VERSION = 1
SMALL_BATCH = 16


@runtime_checkable
class Detector(Protocol):
    """A change detector for one scalar stream, in River's shape."""

    name: ClassVar[str]

    def update(self, x: float) -> Self:
        """Feed one value; return the detector itself."""
        ...

    def update_many(self, xs: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Feed values in order; return the positions in ``xs`` whose update detected a change."""
        ...

    @property
    def drift_detected(self) -> bool:
        """True only right after the update that detected a change."""
        ...

    @property
    def n_detections(self) -> int:
        """Changes detected since the detector was made."""
        ...

    @property
    def n_seen(self) -> int:
        """Values fed since the detector was made."""
        ...

    def to_state(self) -> dict[str, Any]:
        """Parameters and full state as plain JSON types."""
        ...

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """A detector that continues exactly where the one that wrote ``state`` stopped."""
        ...


_DETECTORS: dict[str, type[Detector]] = {}
DETECTORS: Mapping[str, type[Detector]] = MappingProxyType(_DETECTORS)

D = TypeVar("D", bound=type[Detector])


def register_detector(cls: D) -> D:
    """Add a detector class under its ``name``; a second class with a name already taken is refused."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"detector class {cls.__name__} has no 'name'", hint="set a ClassVar name = '...'")
    if name in _DETECTORS:
        raise ConflictError(
            f"a detector named {name!r} is already registered ({_DETECTORS[name].__qualname__})",
            hint="choose another name for the new detector",
        )
    _DETECTORS[name] = cls
    return cls


def make_detector(name: str, /, **params: Any) -> Detector:
    """Make the detector registered under ``name`` with ``params`` (each validated by the detector)."""
    try:
        cls = _DETECTORS[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown detector {name!r}", hint=f"use one of: {', '.join(sorted(_DETECTORS))}"
        ) from None
    known = [p for p in inspect.signature(cls).parameters.values() if p.kind is not p.VAR_KEYWORD]
    unknown = sorted(set(params) - {p.name for p in known})
    if unknown:
        raise InvalidInputError(
            f"detector {name!r} has no parameter {', '.join(map(repr, unknown))}",
            hint=f"its parameters are: {', '.join(p.name for p in known)}",
        )
    return cls(**params)


class BaseDetector(ABC):
    """What every built-in detector shares: value checks, the three counters, ``update_many`` and the state envelope.

    A subclass validates its parameters in ``__init__`` then calls ``_reset()``; it implements ``_step`` (one finite
    value in, True when a change is detected), ``_params``, ``_state`` and ``_load_state``, and may override
    ``_step_many`` with a faster version that gives exactly the same results.
    """

    name: ClassVar[str]

    def _reset(self) -> None:
        self._n_seen = 0
        self._n_detections = 0
        self._drift_detected = False
        self._reset_model()

    @abstractmethod
    def _reset_model(self) -> None:
        """Build the detector-specific state from scratch."""

    @abstractmethod
    def _step(self, x: float) -> bool:
        """Take one finite value; return True when it completes a detected change."""

    @abstractmethod
    def _params(self) -> dict[str, Any]:
        """The constructor arguments, as plain JSON types."""

    @abstractmethod
    def _state(self) -> dict[str, Any]:
        """The detector-specific state, as plain JSON types."""

    @abstractmethod
    def _load_state(self, state: Mapping[str, Any]) -> None:
        """Restore what ``_state`` wrote (raise KeyError, TypeError or ValueError when it does not fit)."""

    # -- River's shape -------------------------------------------------------------------------------------------

    def update(self, x: float) -> Self:
        """Feed one value (NaN and infinities are refused, and nothing changes); return the detector."""
        v = self._check_value(x)
        self._drift_detected = self._step(v)
        self._n_seen += 1
        self._n_detections += self._drift_detected
        return self

    def update_many(self, xs: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Feed a 1-D array of values in order; return the positions whose update detected a change.

        The same as calling :meth:`update` on each value in turn, only faster. If any value is NaN or infinite the
        whole call is refused before anything changes.
        """
        arr = self._check_values(xs)
        if arr.size == 0:
            return np.zeros(0, dtype=np.int64)
        # a few values: the plain loop is cheaper than setting up the vectorised path (same results either way)
        hits = BaseDetector._step_many(self, arr) if arr.size <= SMALL_BATCH else self._step_many(arr)
        self._n_seen += int(arr.size)
        self._n_detections += len(hits)
        self._drift_detected = bool(hits) and hits[-1] == arr.size - 1
        return np.asarray(hits, dtype=np.int64)

    def _step_many(self, xs: npt.NDArray[np.float64]) -> list[int]:
        hits = []
        for i, v in enumerate(xs.tolist()):
            self._drift_detected = self._step(v)
            if self._drift_detected:
                hits.append(i)
        return hits

    @property
    def drift_detected(self) -> bool:
        """True only right after the update that detected a change; the next update sets it again."""
        return self._drift_detected

    @property
    def n_detections(self) -> int:
        """Changes detected since the detector was made."""
        return self._n_detections

    @property
    def n_seen(self) -> int:
        """Values fed since the detector was made."""
        return self._n_seen

    # -- state ---------------------------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Parameters and the full state as plain JSON types (``json.dumps`` takes it as is; no pickle)."""
        counters = {
            "n_seen": self._n_seen,
            "n_detections": self._n_detections,
            "drift_detected": self._drift_detected,
        }
        return {
            "detector": self.name,
            "version": STATE_VERSION,
            "params": self._params(),
            "state": counters | self._state(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """A detector that continues exactly where the one that wrote ``state`` (with :meth:`to_state`) stopped."""
        owner = cls.__name__
        if not isinstance(state, Mapping) or state.get("detector") != cls.name:
            got = state.get("detector") if isinstance(state, Mapping) else type(state).__name__
            raise bad_state(owner, f"it is for detector {got!r}, not {cls.name!r}")
        if state.get("version") != STATE_VERSION:
            raise bad_state(owner, f"version {state.get('version')!r} is not {STATE_VERSION}")
        params, body = state.get("params"), state.get("state")
        if not isinstance(params, Mapping) or not isinstance(body, Mapping):
            raise bad_state(owner, "'params' and 'state' must be objects")
        try:
            detector = cls(**params)
        except TypeError as exc:
            raise bad_state(owner, str(exc)) from None
        try:
            n_seen, n_det, flag = body["n_seen"], body["n_detections"], body["drift_detected"]
            if not (_is_count(n_seen) and _is_count(n_det) and isinstance(flag, bool)):
                raise TypeError("counters must be non-negative ints and drift_detected a bool")
            detector._load_state(body)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise bad_state(owner, str(exc) or type(exc).__name__) from None
        detector._n_seen, detector._n_detections, detector._drift_detected = n_seen, n_det, flag
        return detector

    # -- helpers -------------------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"

    def _check_value(self, x: Any) -> float:
        ok = isinstance(x, int | float | np.integer | np.floating | np.bool_)
        v = float(x) if ok else math.nan
        if ok and math.isfinite(v):
            return v
        raise InvalidInputError(
            f"{type(self).__name__}.update got x={x!r}; only finite numbers can be monitored",
            hint="drop or impute NaN and infinite values before they reach the detector",
        )

    def _check_values(self, xs: npt.ArrayLike) -> npt.NDArray[np.float64]:
        owner = f"{type(self).__name__}.update_many"
        arr = np.asarray(xs)
        if arr.ndim != 1 or arr.dtype.kind not in "biuf":
            raise InvalidInputError(
                f"{owner} needs a 1-D array of numbers, got shape {arr.shape} of dtype {arr.dtype}",
                hint="pass one value per event, e.g. np.asarray(errors, dtype=float)",
            )
        arr = arr.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            i = int(bad[0])
            raise InvalidInputError(
                f"{owner} got xs[{i}]={arr[i]!r} ({bad.size} non-finite values); nothing was fed",
                hint="drop or impute NaN and infinite values before they reach the detector",
            )
        return arr


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0
