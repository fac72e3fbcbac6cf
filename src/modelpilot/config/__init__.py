"""Configuration: one typed, frozen settings tree (see :mod:`modelpilot.config.settings`)."""

from __future__ import annotations

from modelpilot.config.settings import RegistrySettings, Settings, load_settings

__all__ = ["RegistrySettings", "Settings", "load_settings"]
