"""Configuration: one typed, frozen settings tree (see :mod:`modelpilot.config.settings`)."""

from __future__ import annotations

from modelpilot.config.settings import (
    AuthSettings,
    EventSettings,
    RegistrySettings,
    ServingSettings,
    Settings,
    load_settings,
)

__all__ = ["AuthSettings", "EventSettings", "RegistrySettings", "ServingSettings", "Settings", "load_settings"]
