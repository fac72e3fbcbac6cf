"""The shadow queue: copies of sampled requests run after the caller has its answer.

``offer`` never waits: when the queue is full the copy is dropped and counted (``modelpilot_shadow_drops_total``).
Worker tasks run queued copies through the shadow version's runner and publish each result as an inference
event with variant ``shadow`` and the primary request's id. On shutdown the queue is drained for a bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from modelpilot.errors import ModelPilotError, ModelTimeoutError
from modelpilot.events.model import InferenceEvent
from modelpilot.serving.state import LoadedVersion
from modelpilot.telemetry import metrics

__all__ = ["ShadowJob", "ShadowQueue"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ShadowJob:
    """One copy of a request for a shadow version."""

    model: str
    target: LoadedVersion
    batch: dict[str, npt.NDArray[Any]]
    request_id: str
    time: float


class ShadowQueue:
    """A bounded queue of shadow calls and the tasks that run them.

    Parameters
    ----------
    capacity
        Copies that may wait; beyond it they are dropped.
    publish
        Where shadow inference events go (``None``: not recorded).
    workers
        Shadow calls running at once.
    """

    def __init__(self, capacity: int, publish: Callable[[InferenceEvent], Any] | None, *, workers: int = 2) -> None:
        self._queue: asyncio.Queue[ShadowJob] = asyncio.Queue(capacity)
        self._publish = publish
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0

    def start(self) -> None:
        """Start the worker tasks on the running loop."""
        self._tasks = [asyncio.create_task(self._work(), name=f"shadow-{i}") for i in range(self._workers)]

    def offer(self, job: ShadowJob) -> bool:
        """Queue a copy without waiting; False (and counted) when it was dropped."""
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.dropped += 1
            metrics.SHADOW_DROPS.labels(model=job.model).inc()
            return False
        return True

    def __len__(self) -> int:
        return self._queue.qsize()

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._run(job)
            except Exception:  # never let one bad copy stop the worker
                log.exception("shadow call for %s failed unexpectedly", job.model)
            finally:
                self._queue.task_done()

    async def _run(self, job: ShadowJob) -> None:
        info = job.target.info
        started = time.perf_counter()
        status, error, outcome = 200, None, "ok"
        prediction = None
        missing = [n for n in info.signature.names if n not in job.batch]
        if missing:
            status, error, outcome = (
                422,
                f"shadow v{info.version} needs feature(s) {missing} the request lacks",
                "error",
            )
            features = job.batch
        else:
            features = {n: job.batch[n] for n in info.signature.names}
            try:
                prediction = await job.target.runner.predict(features)
            except ModelTimeoutError as exc:
                status, error, outcome = exc.http_status, exc.message, "timeout"
            except ModelPilotError as exc:
                status, error, outcome = exc.http_status, exc.message, "error"
        metrics.SHADOW_REQUESTS.labels(model=job.model, version=str(info.version), outcome=outcome).inc()
        if self._publish is not None:
            self._publish(
                InferenceEvent(
                    request_id=job.request_id,
                    time=job.time,
                    model=job.model,
                    version=info.version,
                    variant="shadow",
                    features=features,
                    prediction=None if prediction is None else prediction.prediction,
                    probabilities=None if prediction is None else prediction.probabilities,
                    classes=None if prediction is None else prediction.classes,
                    latency_s=time.perf_counter() - started,
                    status=status,
                    error=error,
                    protocol="shadow",
                )
            )

    async def drain(self, timeout: float) -> bool:
        """Wait (bounded) for queued copies to finish, then stop the workers; False when time ran out."""
        done = True
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            done = False
            log.warning("shutdown: %d shadow calls not run", self._queue.qsize())
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return done
