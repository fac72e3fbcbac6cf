"""Change detection on a stream's scalar signals: its error indicator and latency per event, and (live) the error
indicator of its labelled rows.

Each signal has a change detector from :mod:`modelpilot.monitoring.detectors` (by name, with its documented
defaults). Detections are counted between windows; the judge turns a window with a detection into a ``change``
finding, so a sudden rise in errors or latency is an alarm even before the window statistics could show it.

Example:
    >>> watch = ChangeWatch()
    >>> for i in range(3000):
    ...     _ = watch.event(error=i >= 2000 and i % 2 == 0, latency_s=0.01)
    >>> watch.take()["error_rate"] >= 1
    True
    >>> watch.take()
    {}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.monitoring.detectors import DETECTORS, Detector, make_detector

__all__ = ["DEFAULT_DETECTORS", "ChangeWatch"]

DEFAULT_DETECTORS: Mapping[str, str] = {"error_rate": "adwin", "latency": "cusum", "label_error": "adwin"}
"""Signal -> detector. Error indicators are 0/1 streams, which ADWIN's distribution-free bound suits; latency is in
seconds on any scale, which CUSUM handles by standardising with the running mean and standard deviation since its
last reset (self-starting)."""


class ChangeWatch:
    """The detectors of one stream and the detections since the last :meth:`take`.

    Parameters
    ----------
    detectors
        Signal name -> detector name (see :data:`DEFAULT_DETECTORS`); a signal not listed is not watched.
    """

    def __init__(self, detectors: Mapping[str, str] | None = None) -> None:
        self.spec = dict(DEFAULT_DETECTORS if detectors is None else detectors)
        self.detectors: dict[str, Detector] = {s: make_detector(d) for s, d in self.spec.items()}
        self._fired: dict[str, int] = {}

    def _feed(self, signal: str, values: npt.NDArray[np.float64]) -> None:
        detector = self.detectors.get(signal)
        if detector is None or values.size == 0:
            return
        hits = detector.update_many(values[np.isfinite(values)])
        if len(hits):
            self._fired[signal] = self._fired.get(signal, 0) + len(hits)

    def _one(self, signal: str, value: float) -> None:
        detector = self.detectors.get(signal)
        if detector is not None and math.isfinite(value) and detector.update(value).drift_detected:
            self._fired[signal] = self._fired.get(signal, 0) + 1

    def event(self, *, error: bool, latency_s: float | None) -> ChangeWatch:
        """One inference event: whether it failed, and how long it took."""
        self._one("error_rate", 1.0 if error else 0.0)
        if latency_s is not None:
            self._one("latency", float(latency_s))
        return self

    def events(self, *, errors: npt.NDArray[np.float64], latencies: npt.NDArray[np.float64]) -> ChangeWatch:
        """Many inference events in order: whether each failed (1.0) or not (0.0), and how long each took (the
        same detections as :meth:`event` on each in turn)."""
        self._feed("error_rate", errors)
        self._feed("latency", latencies)
        return self

    def labelled(self, wrong: npt.NDArray[np.bool_]) -> ChangeWatch:
        """Labelled rows: whether each prediction was wrong."""
        self._feed("label_error", np.asarray(wrong, dtype=np.float64))
        return self

    def take(self) -> dict[str, int]:
        """Detections per signal since the last call (and forget them)."""
        out, self._fired = self._fired, {}
        return out

    def to_state(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "spec": self.spec,
            "detectors": {s: d.to_state() for s, d in self.detectors.items()},
            "fired": dict(self._fired),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ChangeWatch:
        """Rebuild from :meth:`to_state`."""
        out = cls(state["spec"])
        for signal, saved in state["detectors"].items():
            out.detectors[signal] = DETECTORS[out.spec[signal]].from_state(saved)
        out._fired = {str(k): int(v) for k, v in state.get("fired", {}).items()}
        return out
