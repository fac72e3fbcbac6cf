"""Configuration: one typed, frozen settings tree (see :mod:`modelpilot.config.settings`)."""

from __future__ import annotations

from modelpilot.config.settings import (
    AuthSettings,
    ControlSettings,
    EventSettings,
    MonitorSettings,
    RegistrySettings,
    ServingSettings,
    Settings,
    SloSettings,
    WindowSettings,
    load_settings,
)

__all__ = [
    "AuthSettings",
    "ControlSettings",
    "EventSettings",
    "MonitorSettings",
    "RegistrySettings",
    "ServingSettings",
    "Settings",
    "SloSettings",
    "WindowSettings",
    "load_settings",
]
