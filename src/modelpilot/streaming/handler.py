"""One request message to one outgoing message: the serving pipeline of the HTTP routes, fed from Kafka.

The model's traffic plan (its router), the runner with fallback, the metrics, the inference event and the shadow
copies are the serving code's own (:func:`modelpilot.serving.infer.run_inference`); this module only parses the
message, picks the version as the HTTP route would, and turns the outcome into a reply or a dead letter. It never
raises: whatever goes wrong becomes a dead letter naming the reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelpilot.config.settings import ServingSettings
from modelpilot.errors import ModelPilotError
from modelpilot.events.model import InferenceEvent
from modelpilot.serving.infer import Outcome, already_counted, record_failure, run_inference
from modelpilot.serving.shadow import ShadowQueue
from modelpilot.serving.state import ModelTable
from modelpilot.streaming.codec import (
    Headers,
    StreamRequest,
    check_outputs,
    encode_reply,
    parse_request,
    request_batch,
    request_id_for,
    sticky_key,
)
from modelpilot.streaming.deadletter import error_headers, kind_of
from modelpilot.telemetry import metrics

__all__ = ["Handler", "Incoming", "Outgoing"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Incoming:
    """A request message and where it was read."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to produce: the reply or the dead letter of one request, and its outcome (``ok`` or the kind)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    outcome: str
    request_id: str | None = None


class Handler:
    """Answers request messages for one model with the process's served-model table.

    Parameters
    ----------
    model
        The model whose traffic plan applies.
    table
        The served models (reloaded by the worker when plans change).
    serving
        Row and body limits.
    out_topic, dead_letter_topic
        Where replies and dead letters go.
    publish
        Where inference events go (``None``: events are off).
    shadows
        The shadow queue (``None``: shadow copies are not run).
    """

    def __init__(
        self,
        model: str,
        table: ModelTable,
        serving: ServingSettings,
        *,
        out_topic: str,
        dead_letter_topic: str,
        publish: Callable[[InferenceEvent], Any] | None = None,
        shadows: ShadowQueue | None = None,
    ) -> None:
        self.model = model
        self.table = table
        self.serving = serving
        self.out_topic = out_topic
        self.dead_letter_topic = dead_letter_topic
        self.publish = publish
        self.shadows = shadows
        self._last_log = 0.0

    async def handle(self, msg: Incoming) -> Outgoing:
        """The reply to ``msg``, or its dead letter."""
        arrived, started = time.time(), time.perf_counter()
        label, protocol, version, variant = "unknown", None, None, "stable"
        metrics.IN_FLIGHT.inc()
        try:
            served = self.table.get(self.model)  # first, as the HTTP routes do: an unserved model is the reason
            label = self.model
            req = parse_request(msg.value, msg.headers, max_bytes=self.serving.max_body_bytes)
            protocol = req.protocol
            choice = served.router.choose(sticky_key(served.plan, req, msg.headers))
            loaded, variant = served.versions[choice.version], choice.variant
            version = loaded.info.version
            check_outputs(req, loaded.runner.classes)
            batch = request_batch(req, loaded.info.signature, max_rows=self.serving.max_rows)
            outcome = await run_inference(
                served,
                loaded,
                variant,
                batch,
                request_id=request_id_for(req, msg.key),
                arrived=arrived,
                started=started,
                protocol=protocol,
                publish=self.publish,
                shadows=self.shadows,
            )
            reply = self._reply(msg, req, outcome)
        except Exception as exc:
            if protocol is not None and not already_counted(exc):
                record_failure(label, version, variant, protocol, exc, started)
            return self._dead_letter(msg, exc)
        finally:
            metrics.IN_FLIGHT.dec()
        if self.shadows is not None:
            for job in outcome.shadow_jobs:
                self.shadows.offer(job)
        return reply

    def _reply(self, msg: Incoming, req: StreamRequest, outcome: Outcome) -> Outgoing:
        value, headers = encode_reply(req, outcome, self.model)
        return Outgoing(self.out_topic, msg.key, value, list(headers), "ok", outcome.request_id)

    def _dead_letter(self, msg: Incoming, exc: Exception) -> Outgoing:
        kind = kind_of(exc)
        now = time.monotonic()
        if now - self._last_log >= 1.0:  # at most one line a second: a flood of bad messages must not flood the log
            self._last_log = now
            where = f"{msg.topic}[{msg.partition}]@{msg.offset}"
            if isinstance(exc, ModelPilotError):
                log.warning("%s: dead-lettered (%s): %s", where, kind, exc.message)
            else:
                log.error("%s: unexpected error, dead-lettered", where, exc_info=exc)
        headers = error_headers(msg.headers, exc, topic=msg.topic, partition=msg.partition, offset=msg.offset)
        return Outgoing(self.dead_letter_topic, msg.key, msg.value, headers, kind)
