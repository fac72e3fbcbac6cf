"""modelpilot: an autopilot for production ML models."""

from modelpilot._version import __version__

__all__ = ["__version__"]
