"""Configuration: one typed, frozen settings tree (see :mod:`modelpilot.config.settings`)."""

from __future__ import annotations

from modelpilot.config.settings import (
    AuthSettings,
    ControlSettings,
    EventSettings,
    KafkaSettings,
    MonitorSettings,
    RegistrySettings,
    ServingSettings,
    Settings,
    SloSettings,
    SpoolSettings,
    WindowSettings,
    load_settings,
)

__all__ = [
    "AuthSettings",
    "ControlSettings",
    "EventSettings",
    "KafkaSettings",
    "MonitorSettings",
    "RegistrySettings",
    "ServingSettings",
    "Settings",
    "SloSettings",
    "SpoolSettings",
    "WindowSettings",
    "load_settings",
]
