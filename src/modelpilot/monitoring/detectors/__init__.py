"""Change detectors for scalar streams (a 0/1 error indicator, a latency, a loss): Page-Hinkley, CUSUM and ADWIN.

Each has River's shape — parameters checked when it is made, ``update(x)`` returning the detector, results as
read-only properties (``drift_detected``, ``n_detections``, ``n_seen`` and its own estimates), ``update_many`` for
arrays, and ``to_state()`` / ``from_state()`` as plain JSON. All are registered by name in :data:`DETECTORS`.

Example:
    >>> from modelpilot.monitoring.detectors import make_detector
    >>> detector = make_detector("adwin")
    >>> for x in [0.0] * 500 + [1.0] * 50:
    ...     _ = detector.update(x)
    >>> detector.n_detections, detector.width
    (1, 50)
"""

from __future__ import annotations

from modelpilot.monitoring.detectors.base import (
    DETECTORS,
    BaseDetector,
    Detector,
    Direction,
    make_detector,
    register_detector,
)
from modelpilot.monitoring.detectors.page_hinkley import PageHinkley  # isort: split

from modelpilot.monitoring.detectors.adwin import ADWIN
from modelpilot.monitoring.detectors.cusum import CUSUM

__all__ = [
    "ADWIN",
    "CUSUM",
    "DETECTORS",
    "BaseDetector",
    "Detector",
    "Direction",
    "PageHinkley",
    "make_detector",
    "register_detector",
]
