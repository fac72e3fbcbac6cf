"""Events: the inference and label event model and the bus they travel on (see :mod:`modelpilot.events.bus`)."""

from __future__ import annotations

from modelpilot.events.bus import Bus, InProcessBus, Subscriber
from modelpilot.events.model import AlarmEvent, Event, InferenceEvent, LabelEvent, SloAlertEvent, Variant
from modelpilot.events.sinks import JsonlSink

__all__ = [
    "AlarmEvent",
    "Bus",
    "Event",
    "InProcessBus",
    "InferenceEvent",
    "JsonlSink",
    "LabelEvent",
    "SloAlertEvent",
    "Subscriber",
    "Variant",
]
