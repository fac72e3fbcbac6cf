"""The model runner: model code off the event loop, with a per-version concurrency cap and a timeout.

A call first waits (at most ``queue_timeout_s``) for one of the version's ``concurrency`` slots — 503 when none
frees up — then runs in the shared thread pool. A call slower than ``timeout_s`` answers 504 at once; its thread
finishes in the background and only then gives its slot back, so a hung model cannot take more than its share of
threads. Classifiers are called once, through ``predict_proba``; the predicted class is the most probable one.

Example:
    >>> import asyncio
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> import numpy as np
    >>> class Double:
    ...     is_classifier, classes = False, None
    ...     def predict(self, batch): return batch["x"] * 2
    ...     def predict_proba(self, batch): raise TypeError("regressor")
    >>> runner = VersionRunner("m", 1, Double(), ThreadPoolExecutor(2), concurrency=2, timeout_s=1.0)
    >>> asyncio.run(runner.predict({"x": np.array([1.0, 2.0])})).prediction.tolist()
    [2.0, 4.0]
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from modelpilot.errors import ModelError, ModelPilotError, ModelTimeoutError, UnavailableError
from modelpilot.loaders.base import Batch, LoadedModel
from modelpilot.telemetry import metrics

__all__ = ["Prediction", "VersionRunner"]


@dataclass(frozen=True, slots=True)
class Prediction:
    """What a model answered for one batch."""

    prediction: npt.NDArray[Any]
    probabilities: npt.NDArray[np.float64] | None
    classes: tuple[Any, ...] | None


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
        Calls of this version that may run at once.
    timeout_s
        Longest a call may take before the caller gets 504.
    queue_timeout_s
        Longest a call waits for a free slot before the caller gets 503.
    """

    def __init__(
        self,
        model_name: str,
        version: int,
        model: LoadedModel,
        executor: Executor,
        *,
        concurrency: int = 4,
        timeout_s: float = 10.0,
        queue_timeout_s: float = 5.0,
    ) -> None:
        self.model_name = model_name
        self.version = version
        self.model = model
        self.executor = executor
        self.timeout_s = timeout_s
        self.queue_timeout_s = queue_timeout_s
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self.classes: tuple[Any, ...] | None = tuple(model.classes) if model.is_classifier and model.classes else None
        self._errors = metrics.MODEL_ERRORS.labels(model=model_name, version=str(version), kind="error")
        self._timeouts = metrics.MODEL_ERRORS.labels(model=model_name, version=str(version), kind="timeout")

    def _call(self, batch: Batch) -> Prediction:
        if self.classes is not None:
            proba = np.asarray(self.model.predict_proba(batch), dtype=np.float64)
            labels = np.asarray(self.classes, dtype=object if isinstance(self.classes[0], str) else None)
            return Prediction(labels[np.argmax(proba, axis=1)], proba, self.classes)
        return Prediction(np.asarray(self.model.predict(batch)), None, None)

    async def predict(self, batch: Batch) -> Prediction:
        """Run the model on ``batch`` within the cap and the timeout."""
        slots = self._slots
        if slots.locked():
            try:
                await asyncio.wait_for(slots.acquire(), self.queue_timeout_s)
            except TimeoutError:
                raise UnavailableError(
                    f"model {self.model_name!r} v{self.version} is busy: all {self.concurrency} slots stayed taken "
                    f"for {self.queue_timeout_s:g} s",
                    hint="retry later, or raise serving.model_concurrency",
                ) from None
        else:
            await slots.acquire()
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self.executor, self._call, batch)
        except BaseException:
            slots.release()
            raise
        future.add_done_callback(lambda _f: slots.release())
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except TimeoutError:
            self._timeouts.inc()
            future.add_done_callback(_consume)
            raise ModelTimeoutError(
                f"model {self.model_name!r} v{self.version} did not answer within {self.timeout_s:g} s",
                hint="retry later; operators can raise serving.model_timeout_s",
            ) from None
        except ModelPilotError:
            self._errors.inc()
            raise
        except Exception as exc:
            self._errors.inc()
            raise ModelError(
                f"model {self.model_name!r} v{self.version} failed: {type(exc).__name__}: {exc}",
                hint="check the request against the model's signature; operators see the traceback in the log",
            ) from exc


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve a timed-out call's late result or error, so asyncio does not warn about it."""
    if not future.cancelled():
        future.exception()
