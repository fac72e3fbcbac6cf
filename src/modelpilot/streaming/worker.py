"""The stream worker's loop: take a batch of request messages, answer them, send, and only then commit.

Each turn takes up to ``batch_size`` messages, answers them concurrently (so the model runner joins them into
few model calls), produces the replies and dead letters in the messages' order, waits until the broker
acknowledged every one of them, and commits the batch's offsets. When a send fails the offsets stay where they
were and the batch is read again after a pause, so a crash or a broker outage redelivers rather than loses
(replies are at least once; consumers key on the request id). A reply or dead letter the broker refuses for good
(e.g. larger than it allows) is replaced by a dead letter without the value, kind ``undeliverable``.

:meth:`StreamWorker.stop` (the CLI calls it on SIGTERM/SIGINT) lets the current batch finish and commit, then
leaves the consumer group. Traffic plans are re-read when the store says they changed, as the server does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from modelpilot.serving.shadow import ShadowQueue
from modelpilot.serving.state import ModelTable
from modelpilot.streaming.deadletter import dead_letter_headers
from modelpilot.streaming.handler import Handler, Incoming, Outgoing
from modelpilot.streaming.transport import SendFailure
from modelpilot.telemetry import metrics

__all__ = ["StreamStats", "StreamWorker", "Transport"]

log = logging.getLogger(__name__)

LAG_EVERY_S = 5.0
"""How often the lag gauge is refreshed while no messages come."""


class Transport(Protocol):
    """What the worker needs from Kafka (:class:`~modelpilot.streaming.transport.KafkaTransport`, or a fake)."""

    def poll(self, max_messages: int, timeout: float) -> list[Incoming]:
        """Up to ``max_messages`` request messages."""
        ...

    def send(self, messages: Sequence[Outgoing], *, give_up: Callable[[], bool]) -> list[SendFailure]:
        """Produce in order and wait for the acknowledgements; the failures."""
        ...

    def commit(self, messages: Sequence[Incoming]) -> bool:
        """Commit the offsets after ``messages``."""
        ...

    def rewind(self, messages: Sequence[Incoming]) -> None:
        """Read ``messages`` again."""
        ...

    def lag(self) -> int | None:
        """Messages not yet taken on the assigned partitions."""
        ...

    def close(self) -> None:
        """Leave the group."""
        ...


@dataclass
class StreamStats:
    """What a worker did: messages taken (answered or dead-lettered, and committed), by outcome."""

    taken: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    send_retries: int = 0

    @property
    def answered(self) -> int:
        """Messages answered on the output topic."""
        return self.outcomes["ok"]

    @property
    def dead_letters(self) -> int:
        """Messages sent to the dead-letter topic."""
        return self.taken - self.answered


class StreamWorker:
    """Consumes request messages for one model until stopped (or after ``max_messages``).

    Parameters
    ----------
    handler
        Answers one message.
    transport
        The Kafka clients.
    table
        The served-model table, loaded at start and re-read when plans change (``None``: never reloaded).
    batch_size
        Most messages taken in one turn.
    max_messages
        Stop after taking this many (``None``: run until stopped).
    plan_poll_s
        How often the store is asked whether plans changed.
    grace_s
        After :meth:`stop`, how long the current batch may still wait for acknowledgements.
    shadow_capacity
        Room of the shadow queue (when the handler runs shadow copies).
    """

    def __init__(
        self,
        handler: Handler,
        transport: Transport,
        *,
        table: ModelTable | None = None,
        batch_size: int = 100,
        max_messages: int | None = None,
        plan_poll_s: float = 2.0,
        grace_s: float = 10.0,
        poll_timeout_s: float = 0.5,
        shadow_capacity: int = 1000,
    ) -> None:
        if batch_size < 1 or (max_messages is not None and max_messages < 1):
            raise ValueError("batch_size and max_messages must be at least 1")
        self.handler = handler
        self.transport = transport
        self.table = table
        self.batch_size = batch_size
        self.max_messages = max_messages
        self.plan_poll_s = plan_poll_s
        self.grace_s = grace_s
        self.poll_timeout_s = poll_timeout_s
        self.shadow_capacity = shadow_capacity
        self.stats = StreamStats()
        self._stop = threading.Event()
        self._stopped_at: float | None = None
        self._lag = metrics.STREAM_LAG.labels(model=handler.model)

    def stop(self) -> None:
        """Finish the current batch, commit, and leave the group (safe from a signal handler or another thread)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called or ``max_messages`` were taken."""
        return self._stop.is_set()

    def run(self) -> StreamStats:
        """Run the loop in this thread until stopped; returns what was done."""
        asyncio.run(self.serve())
        return self.stats

    async def serve(self) -> None:
        """The loop, on the running event loop."""
        handler = self.handler
        if handler.shadows is None:  # as the server: shadow copies run (and are counted) even with events off
            handler.shadows = ShadowQueue(self.shadow_capacity, handler.publish)
        shadows = handler.shadows
        shadows.start()
        try:
            marker = None
            if self.table is not None:  # as the server's start-up: a store that cannot be read stops the start
                marker = await asyncio.to_thread(self.table.marker)
                self._loaded(await asyncio.to_thread(self.table.reload))
            await self._loop(marker)
        finally:
            await shadows.drain(self.grace_s)
            await asyncio.to_thread(self.transport.close)

    async def _loop(self, marker: tuple[int, int] | None) -> None:
        last_poll = last_lag = time.monotonic()
        pause = 0.5
        while not self._stop.is_set():
            now = time.monotonic()
            if self.table is not None and now - last_poll >= self.plan_poll_s:
                last_poll = now
                marker = await self._reload(marker)
            want = self.batch_size if self.max_messages is None else self.max_messages - self.stats.taken
            batch = await asyncio.to_thread(self.transport.poll, min(self.batch_size, want), self.poll_timeout_s)
            if not batch:
                if now - last_lag >= LAG_EVERY_S:
                    last_lag = now
                    self._update_lag()
                continue
            if await self._answer(batch):
                pause = 0.5
                self._update_lag()
                last_lag = time.monotonic()
                if self.max_messages is not None and self.stats.taken >= self.max_messages:
                    self._stop.set()
            elif not self._stop.is_set():
                self.stats.send_retries += 1
                await asyncio.to_thread(self.transport.rewind, batch)
                log.warning("batch of %d not acknowledged; reading it again in %.1f s", len(batch), pause)
                await asyncio.to_thread(self._stop.wait, pause)  # a stop ends the pause at once
                pause = min(pause * 2, 30.0)

    async def _answer(self, batch: list[Incoming]) -> bool:
        """Answer, send and commit one batch; False when it was not acknowledged (nothing committed)."""
        outgoing = list(await asyncio.gather(*(self.handler.handle(m) for m in batch)))
        failures = await asyncio.to_thread(self.transport.send, outgoing, give_up=self._give_up)
        if any(not f.permanent for f in failures):
            return False
        if failures:  # refused for good: send a dead letter without the value in its place
            stubs = [
                _undeliverable(batch[f.index], outgoing[f.index], f, self.handler.dead_letter_topic) for f in failures
            ]
            again = await asyncio.to_thread(self.transport.send, stubs, give_up=self._give_up)
            if any(not f.permanent for f in again):
                return False
            for f in again:
                log.error("%s: dropped, even its stub dead letter was refused: %s", stubs[f.index].topic, f.reason)
            for f, stub in zip(failures, stubs, strict=True):
                outgoing[f.index] = stub
        await asyncio.to_thread(self.transport.commit, batch)
        self.stats.taken += len(batch)
        model = self.handler.model
        for out in outgoing:
            self.stats.outcomes[out.outcome] += 1
            metrics.STREAM_MESSAGES.labels(model=model, outcome=out.outcome).inc()
        return True

    def _give_up(self) -> bool:
        if not self._stop.is_set():
            return False
        if self._stopped_at is None:
            self._stopped_at = time.monotonic()
        return time.monotonic() - self._stopped_at >= self.grace_s

    async def _reload(self, marker: tuple[int, int] | None) -> tuple[int, int] | None:
        table = self.table
        if table is None:
            return marker
        try:
            now = await asyncio.to_thread(table.marker)
            retry = bool(table.errors) and time.monotonic() >= table.retry_at
            if marker is None or now != marker or retry:
                self._loaded(await asyncio.to_thread(table.reload))
            return now
        except Exception:
            log.exception("reading the traffic plans failed; keeping the last loaded ones")
            return marker

    def _loaded(self, report: dict[str, Any]) -> None:
        log.info("traffic plans loaded: %s", report)
        if self.table is not None and self.handler.model not in self.table.models:
            log.warning(
                "model %s is not served (no traffic plan): its messages go to the dead-letter topic", self.handler.model
            )

    def _update_lag(self) -> None:
        with contextlib.suppress(Exception):  # a gauge must never stop the worker
            lag = self.transport.lag()
            if lag is not None:
                self._lag.set(lag)


def _undeliverable(request: Incoming, out: Outgoing, failure: SendFailure, topic: str) -> Outgoing:
    what = "reply" if out.outcome == "ok" else "dead letter"
    headers = dead_letter_headers(
        request.headers,
        kind="undeliverable",
        reason=f"the {what} to {out.topic} was refused by the broker: {failure.reason}",
        hint="the request is at the source position; send fewer rows per message or raise message.max.bytes",
        topic=request.topic,
        partition=request.partition,
        offset=request.offset,
    )
    return Outgoing(topic, request.key, None, headers, "undeliverable", out.request_id)
