"""The event bus interface and the in-process bus (the embedded default).

Publishing never blocks the caller. The in-memory queue is bounded; an event that does not fit goes to a disk
spill when the bus has one (:class:`~modelpilot.events.spool.Spool` segment files: the monitor sees it a little
later, in order, and it survives the process being killed), and is dropped only without a spill or when the spill
is full too — never silently: counted in ``modelpilot_events_dropped_total`` and logged (at most once a second).
A background thread hands queued events to subscribers in batches, so a slow subscriber slows the bus, never a
request. The backlog is exported as ``modelpilot_event_queue_depth`` (in memory) and ``modelpilot_spool_events``
(on disk).

Example:
    >>> from modelpilot.events.model import LabelEvent
    >>> seen = []
    >>> bus = InProcessBus(capacity=10)
    >>> bus.subscribe(seen.extend)
    >>> bus.publish(LabelEvent(request_id="r1", label=1, time=0.0))
    True
    >>> bus.flush(timeout=2.0), [e.request_id for e in seen]
    (True, ['r1'])
    >>> bus.close()
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

import orjson

from modelpilot.events.model import AlarmEvent, Event, InferenceEvent, LabelEvent, SloAlertEvent
from modelpilot.events.spool import Spool
from modelpilot.telemetry import metrics

__all__ = ["Bus", "InProcessBus", "Subscriber"]

log = logging.getLogger(__name__)

Subscriber = Callable[[Sequence[Event]], None]


class Bus(Protocol):
    """Where inference and label events go."""

    def publish(self, event: Event) -> bool:
        """Queue one event without blocking; False when it was dropped."""
        ...

    def subscribe(self, subscriber: Subscriber) -> None:
        """Receive every later event, in batches, on the bus's delivery thread."""
        ...

    def flush(self, timeout: float) -> bool:
        """Wait until every queued event was delivered; False on timeout."""
        ...

    def close(self, timeout: float = 5.0) -> None:
        """Flush, then stop delivering."""
        ...


class InProcessBus:
    """A bounded in-memory queue with a delivery thread.

    Parameters
    ----------
    capacity
        Events that may wait for delivery; beyond it ``publish`` drops and counts.
    batch_size
        Most events handed to a subscriber in one call; a queue this long wakes the delivery thread at once.
    linger_s
        Otherwise the delivery thread wakes this often. Publishing never wakes it: every wake-up of another
        Python thread costs the serving thread a GIL hand-off, which on a busy core was measured to cost several
        percent of latency at a 20 ms period and nothing measurable at 250 ms; monitoring windows are seconds long.
    spill
        Where events go while the queue is full (and after, until the spill is delivered, so order is kept);
        what it holds when the process starts (a killed predecessor's spill) is delivered first. ``None``: they
        are dropped and counted.
    """

    def __init__(
        self,
        capacity: int = 10_000,
        *,
        batch_size: int = 512,
        linger_s: float = 0.25,
        spill: Spool | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.batch_size = batch_size
        self.linger_s = linger_s
        self._published = metrics.EVENTS_PUBLISHED
        self._queue: deque[Event] = deque()
        self._subscribers: list[Subscriber] = []
        self._wake = threading.Event()
        self._delivered_cond = threading.Condition()
        self._closed = False
        self._accepted = 0
        self._last_drop_log = 0.0
        self.dropped = 0
        self.delivered = 0
        self.spill = spill
        self.spilled = 0  # events written to the spill by this bus
        self._spill_lock = threading.Lock()
        self._spilling = spill is not None and spill.pending > 0  # a predecessor's events go first
        if spill is not None:
            self._accepted += spill.pending  # and flush() waits for them too
        self._thread = threading.Thread(target=self._run, name="modelpilot-bus", daemon=True)
        self._thread.start()

    def __len__(self) -> int:
        return len(self._queue)

    def publish(self, event: Event) -> bool:
        """Queue ``event``; spill it to disk when the queue is full (or a spill is being delivered); drop it
        (counted and logged) when there is no room anywhere or the bus is closed."""
        if (
            self.spill is not None
            and not self._closed
            and (self._spilling or len(self._queue) >= self.capacity)
            and self._subscribers  # no one to deliver to: nothing worth keeping
        ):
            with self._spill_lock:
                if self._spilling or len(self._queue) >= self.capacity:
                    return self._to_spill(event)
        if self._closed or len(self._queue) >= self.capacity:
            self.dropped += 1
            metrics.EVENTS_DROPPED.labels(reason="closed" if self._closed else "queue_full").inc()
            now = time.monotonic()
            if now - self._last_drop_log >= 1.0:
                self._last_drop_log = now
                log.warning("event queue full (%d): dropped %d events so far", self.capacity, self.dropped)
            return False
        self._accepted += 1
        self._queue.append(event)
        self._published.inc()
        if len(self._queue) >= self.batch_size:
            self._wake.set()
        return True

    def _to_spill(self, event: Event) -> bool:
        assert self.spill is not None
        try:
            value = orjson.dumps(event.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY)
        except (TypeError, ValueError):  # a value JSON cannot hold (bytes, ...): counted, never raised to a request
            self.dropped += 1
            metrics.EVENTS_DROPPED.labels(reason="unencodable").inc()
            return False
        if not self.spill.append([(event.kind, b"", value)]):  # full or failing: counted and logged by the spill
            self.dropped += 1
            return False
        self._spilling = True
        self._accepted += 1
        self.spilled += 1
        self._published.inc()
        self._wake.set()  # under pressure: start delivering now
        return True

    def subscribe(self, subscriber: Subscriber) -> None:
        """Add a subscriber (called on the delivery thread)."""
        self._subscribers.append(subscriber)
        if self._spilling:
            self._wake.set()

    def _deliver(self, batch: list[Event]) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(batch)
            except Exception:  # a subscriber's bug must not stop delivery to the others
                log.exception("event subscriber %r failed on a batch of %d", subscriber, len(batch))

    def _run(self) -> None:
        while True:
            self._wake.wait(self.linger_s)
            self._wake.clear()
            while self._queue:
                batch: list[Event] = []
                while self._queue and len(batch) < self.batch_size:
                    batch.append(self._queue.popleft())
                metrics.EVENT_QUEUE_DEPTH.set(len(self._queue))
                self._deliver(batch)
                with self._delivered_cond:
                    self.delivered += len(batch)
                    self._delivered_cond.notify_all()
            metrics.EVENT_QUEUE_DEPTH.set(0)
            if self._spilling and self._subscribers:  # a predecessor's spill waits for the first subscriber
                self._replay()
            if self._closed and not self._queue:
                return

    def _replay(self) -> None:
        """Deliver the spill, oldest segment first, until it is empty; then publishing fills the queue again."""
        assert self.spill is not None
        while not self._closed or self.spill.pending:
            batch = self.spill.oldest()
            if batch is None:
                with self._spill_lock:
                    if self.spill.pending == 0 or self._closed:
                        self._spilling = False
                        return
                continue
            events: list[Event] = []
            for kind, _, value in batch.records:
                try:
                    events.append(_decode(kind, value))
                except Exception:  # written by this code, so a bug or a damaged disk: counted, never fatal
                    metrics.EVENTS_DROPPED.labels(reason="undecodable").inc()
                    log.exception("event spill: a record of kind %r could not be read back", kind)
            for i in range(0, len(events), self.batch_size):
                self._deliver(events[i : i + self.batch_size])
            self.spill.release(batch)
            with self._delivered_cond:
                self.delivered += len(batch.records)
                self._delivered_cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until every event queued so far was delivered."""
        target = self._accepted
        self._wake.set()
        with self._delivered_cond:
            return self._delivered_cond.wait_for(lambda: self.delivered >= target, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop the thread; what the spill still holds stays on
        disk for the next bus on it."""
        self._closed = True
        self._wake.set()
        self._thread.join(timeout)
        if self.spill is not None:
            self.spill.close()


_KINDS: dict[str, type[InferenceEvent] | type[LabelEvent] | type[AlarmEvent] | type[SloAlertEvent]] = {
    "inference": InferenceEvent,
    "label": LabelEvent,
    "alarm": AlarmEvent,
    "slo_alert": SloAlertEvent,
}


def _decode(kind: str, value: bytes) -> Event:
    return _KINDS[kind].from_dict(orjson.loads(value))
