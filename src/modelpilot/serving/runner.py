"""The model runner: model code off the event loop, with adaptive batching, a concurrency cap and timeouts.

Each loaded version has a runner. A request's batch joins the runner's pending list; whenever one of the
version's ``concurrency`` call slots is free, the pending requests (up to ``max_batch_rows`` rows) are joined into
one batch and run as **one** model call in the shared thread pool, then the answers are split back per request.
Requests that arrive together — within one event-loop turn, or while every slot is busy — therefore share a call,
which is what makes a Python server fast: the fixed cost of a model call (input checks, one thread hand-off) is
paid once per batch instead of once per request. Nothing waits on purpose for a batch to fill, so a lone request
is never delayed. Models must treat rows independently (every scikit-learn, ONNX and most Python models do); set
``serving.max_batch_rows`` to 0 for one that does not.

Limits: a request waits at most ``queue_timeout_s`` for a slot (then 503) and a call may take ``timeout_s``
(then 504 at once for every request in it; the thread finishes in the background and only then frees its slot,
so a hung model cannot take more than its share of threads). When a joined call raises, its requests are run one
by one, so one bad row fails only its own request. Classifiers are called once, through ``predict_proba``; the
predicted class is the most probable one.

Example:
    >>> import asyncio
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> import numpy as np
    >>> class Double:
    ...     is_classifier, classes = False, None
    ...     def predict(self, batch): return batch["x"] * 2
    ...     def predict_proba(self, batch): raise TypeError("regressor")
    >>> runner = VersionRunner("m", 1, Double(), ThreadPoolExecutor(2), concurrency=1, timeout_s=1.0)
    >>> async def three():
    ...     return await asyncio.gather(*(runner.predict({"x": np.array([v, v + 0.5])}) for v in (1.0, 2.0, 3.0)))
    >>> [p.prediction.tolist() for p in asyncio.run(three())]
    [[2.0, 3.0], [4.0, 5.0], [6.0, 7.0]]
    >>> runner.calls  # the three requests shared one model call
    1
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.errors import ModelError, ModelPilotError, ModelTimeoutError, UnavailableError
from modelpilot.loaders.base import Batch, LoadedModel
from modelpilot.telemetry import metrics

__all__ = ["Prediction", "VersionRunner"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Prediction:
    """What a model answered for one batch."""

    prediction: npt.NDArray[Any]
    probabilities: npt.NDArray[np.float64] | None
    classes: tuple[Any, ...] | None


@dataclass(eq=False, slots=True)
class _Item:
    batch: Batch
    rows: int
    future: asyncio.Future[Prediction]
    solo: bool = False
    expiry: asyncio.TimerHandle | None = None


@dataclass(eq=False, slots=True)
class _Call:
    items: list[_Item]
    timer: asyncio.TimerHandle | None = None
    timed_out: bool = False
    offsets: list[int] = field(default_factory=list)


def _fits(result: Prediction, rows: int) -> bool:
    """Whether a model answered one prediction (and one probability row) per input row."""
    if np.ndim(result.prediction) < 1 or len(result.prediction) != rows:
        return False
    return result.probabilities is None or (np.ndim(result.probabilities) == 2 and len(result.probabilities) == rows)


def _rows(batch: Batch) -> int:
    for column in batch.values():
        return len(column)
    return 0


class VersionRunner:
    """One loaded version, ready to be called from the event loop.

    Parameters
    ----------
    model_name, version
        What is loaded (for errors and metrics).
    model
        The loaded model.
    executor
        The thread pool model code runs in.
    concurrency
        Model calls of this version that may run at once.
    timeout_s
        Longest a call may take before its callers get 504.
    queue_timeout_s
        Longest a request waits for a free slot before its caller gets 503.
    max_batch_rows
        Most rows joined into one call (0: never join requests).
    max_pending
        Requests that may wait for a slot; more are refused with 503 at once (the queue stays bounded).
    """

    def __init__(
        self,
        model_name: str,
        version: int,
        model: LoadedModel,
        executor: Executor,
        *,
        concurrency: int = 2,
        timeout_s: float = 10.0,
        queue_timeout_s: float = 5.0,
        max_batch_rows: int = 256,
        max_pending: int = 1000,
    ) -> None:
        self.model_name = model_name
        self.version = version
        self.model = model
        self.executor = executor
        self.timeout_s = timeout_s
        self.queue_timeout_s = queue_timeout_s
        self.concurrency = concurrency
        self.max_batch_rows = max_batch_rows
        self.classes: tuple[Any, ...] | None = tuple(model.classes) if model.is_classifier and model.classes else None
        self._labels = (
            None
            if self.classes is None
            else np.asarray(self.classes, dtype=object if isinstance(self.classes[0], str) else None)
        )
        self.max_pending = max_pending
        self._pending: deque[_Item] = deque()
        self._busy = 0
        self._flush_scheduled = False
        self.calls = 0
        self._last_log = 0.0
        self._errors = metrics.MODEL_ERRORS.labels(model=model_name, version=str(version), kind="error")
        self._timeouts = metrics.MODEL_ERRORS.labels(model=model_name, version=str(version), kind="timeout")

    # ------------------------------------------------------------------------------ worker thread side
    def _call(self, batch: Batch) -> Prediction:
        if self._labels is not None:
            proba = np.asarray(self.model.predict_proba(batch), dtype=np.float64)
            return Prediction(self._labels[np.argmax(proba, axis=1)], proba, self.classes)
        return Prediction(np.asarray(self.model.predict(batch)), None, None)

    # ------------------------------------------------------------------------------ event loop side
    async def predict(self, batch: Batch) -> Prediction:
        """Run the model on ``batch`` (possibly joined with other requests' rows) within the limits."""
        loop = asyncio.get_running_loop()
        if len(self._pending) >= self.max_pending:
            raise UnavailableError(
                f"model {self.model_name!r} v{self.version} has {len(self._pending)} requests waiting already",
                hint="retry later, or add replicas; operators can raise serving.model_concurrency",
            )
        item = _Item(batch, _rows(batch), loop.create_future())
        self._pending.append(item)
        item.expiry = loop.call_later(self.queue_timeout_s, self._expire, item)  # cancelled when dispatched
        if self._busy < self.concurrency and not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await item.future

    def _expire(self, item: _Item) -> None:
        try:
            self._pending.remove(item)
        except ValueError:  # dispatched meanwhile
            return
        if not item.future.done():
            item.future.set_exception(
                UnavailableError(
                    f"model {self.model_name!r} v{self.version} is busy: all {self.concurrency} call slots stayed "
                    f"taken for {self.queue_timeout_s:g} s",
                    hint="retry later, or raise serving.model_concurrency",
                )
            )

    def _take(self) -> list[_Item]:
        first = self._pending.popleft()
        items = [first]
        if first.solo or self.max_batch_rows <= 0:
            return items
        rows, keys = first.rows, first.batch.keys()
        while self._pending:
            nxt = self._pending[0]
            if nxt.solo or rows + nxt.rows > self.max_batch_rows or nxt.batch.keys() != keys:
                break
            items.append(self._pending.popleft())
            rows += nxt.rows
        return items

    def _flush(self) -> None:
        self._flush_scheduled = False
        while self._pending and self._busy < self.concurrency:
            items = [it for it in self._take() if not it.future.done()]  # drop requests already answered
            if items:
                try:
                    self._dispatch(items)
                except Exception as exc:  # e.g. columns that cannot be joined, or a pool shut down
                    log.exception("model %s v%s: could not start a call", self.model_name, self.version)
                    for it in items:
                        self._fail(it, exc)

    def _dispatch(self, items: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        if len(items) == 1:
            batch = items[0].batch
        else:
            batch = {k: np.concatenate([it.batch[k] for it in items]) for k in items[0].batch}
        future = loop.run_in_executor(self.executor, self._call, batch)
        for it in items:
            if it.expiry is not None:
                it.expiry.cancel()
        call = _Call(items)
        self._busy += 1
        self.calls += 1
        call.timer = loop.call_later(self.timeout_s, self._time_out, call)
        future.add_done_callback(lambda f, c=call: self._done(c, f))  # type: ignore[misc]

    def _time_out(self, call: _Call) -> None:
        call.timed_out = True
        for it in call.items:
            if not it.future.done():
                self._timeouts.inc()
                it.future.set_exception(
                    ModelTimeoutError(
                        f"model {self.model_name!r} v{self.version} did not answer within {self.timeout_s:g} s",
                        hint="retry later; operators can raise serving.model_timeout_s",
                    )
                )

    def _done(self, call: _Call, future: asyncio.Future[Prediction]) -> None:
        self._busy -= 1
        if call.timer is not None:
            call.timer.cancel()
        try:
            self._settle(call, future)
        except Exception as exc:  # never leave a caller waiting
            log.exception("model %s v%s: could not hand out answers", self.model_name, self.version)
            for it in call.items:
                self._fail(it, exc)
        if self._pending and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _settle(self, call: _Call, future: asyncio.Future[Prediction]) -> None:
        exc = None if future.cancelled() else future.exception()
        if call.timed_out:
            return  # its callers already have their 504; this only freed the slot
        result = None if exc is not None else future.result()
        if result is not None and not _fits(result, sum(it.rows for it in call.items)):
            exc = ValueError(
                f"the model returned {len(result.prediction)} predictions for {sum(it.rows for it in call.items)} rows"
            )
            result = None
        if result is not None:
            self._deliver(call, result)
        elif len(call.items) > 1:
            loop = asyncio.get_running_loop()
            for it in reversed(call.items):  # isolate the failing request: run each alone, first in line
                it.solo = True
                it.expiry = loop.call_later(self.queue_timeout_s, self._expire, it)
                self._pending.appendleft(it)
        else:
            assert exc is not None
            self._fail(call.items[0], exc)

    def _fail(self, item: _Item, exc: BaseException) -> None:
        if item.future.done():
            return
        self._errors.inc()
        if isinstance(exc, ModelPilotError):
            item.future.set_exception(exc)
            return
        now = time.monotonic()
        if now - self._last_log >= 1.0:  # at most one traceback a second per version
            self._last_log = now
            log.error("model %s v%s failed", self.model_name, self.version, exc_info=exc)
        # The exception's text may carry paths or connection strings: callers get its type, operators the log.
        err = ModelError(
            f"model {self.model_name!r} v{self.version} failed: {type(exc).__name__}",
            hint="check the request against the model's signature; operators see the error in the server log",
        )
        err.__cause__ = exc
        item.future.set_exception(err)

    def _deliver(self, call: _Call, result: Prediction) -> None:
        if len(call.items) == 1:
            it = call.items[0]
            if not it.future.done():
                it.future.set_result(result)
            return
        start = 0
        for it in call.items:
            end = start + it.rows
            if not it.future.done():
                proba = None if result.probabilities is None else result.probabilities[start:end]
                it.future.set_result(Prediction(result.prediction[start:end], proba, result.classes))
            start = end
