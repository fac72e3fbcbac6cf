"""Streaming inference: answer request messages from a Kafka topic with a model's traffic plan (``modelpilot stream``).

Request messages carry OIP v2 or v1 record requests; replies go to an output topic, keyed like the request, and
anything that cannot be answered goes to a dead-letter topic with the reason in its headers. Offsets are committed
only after the broker acknowledged the replies (see docs/streaming.md).
"""

from __future__ import annotations

from modelpilot.streaming.codec import REQUEST_ID_HEADER, StreamRequest, encode_reply, parse_request
from modelpilot.streaming.deadletter import KINDS, kind_of
from modelpilot.streaming.handler import Handler, Incoming, Outgoing
from modelpilot.streaming.service import StreamOptions, StreamService
from modelpilot.streaming.transport import KafkaTransport
from modelpilot.streaming.worker import StreamStats, StreamWorker, Transport

__all__ = [
    "KINDS",
    "REQUEST_ID_HEADER",
    "Handler",
    "Incoming",
    "KafkaTransport",
    "Outgoing",
    "StreamOptions",
    "StreamRequest",
    "StreamService",
    "StreamStats",
    "StreamWorker",
    "Transport",
    "encode_reply",
    "kind_of",
    "parse_request",
]
