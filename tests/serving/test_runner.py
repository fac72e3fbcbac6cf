"""The runner's adaptive batching: joined calls, answers split back, failures isolated, limits kept."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from modelpilot.errors import ModelError, ModelTimeoutError, UnavailableError
from modelpilot.serving.runner import VersionRunner


class Model:
    """Labels each row by x > 0; raises on any negative row; records every call's size."""

    is_classifier = True

    @property
    def classes(self) -> list[Any]:
        return ["neg", "pos"]

    def __init__(self, delay: float = 0.0) -> None:
        self.sizes: list[int] = []
        self.delay = delay
        self.lock = threading.Lock()

    def predict(self, batch: Any) -> Any:
        raise AssertionError("classifiers are called through predict_proba")

    def predict_proba(self, batch: Any) -> Any:
        x = np.asarray(batch["x"], dtype=float)
        with self.lock:
            self.sizes.append(len(x))
        if self.delay:
            time.sleep(self.delay)
        if (x < 0).any():
            raise ValueError("negative input")
        p = (x > 0).astype(float)
        return np.column_stack([1 - p, p])


def _run(runner: VersionRunner, values: list[list[float]]) -> list[Any]:
    async def go() -> list[Any]:
        return await asyncio.gather(*(runner.predict({"x": np.array(v)}) for v in values), return_exceptions=True)

    return asyncio.run(go())


def test_requests_arriving_together_share_one_call_and_get_their_own_rows() -> None:
    model = Model()
    runner = VersionRunner("m", 1, model, ThreadPoolExecutor(2), concurrency=1)
    values = [[1.0], [-0.0, 2.0, 3.0], [0.0], [5.0, 0.0]]
    out = _run(runner, values)
    assert [o.prediction.tolist() for o in out] == [["pos"], ["neg", "pos", "pos"], ["neg"], ["pos", "neg"]]
    assert [o.probabilities.shape for o in out] == [(1, 2), (3, 2), (1, 2), (2, 2)]
    assert model.sizes == [7] and runner.calls == 1


def test_max_batch_rows_caps_a_call_and_zero_disables_joining() -> None:
    model = Model()
    out = _run(VersionRunner("m", 1, model, ThreadPoolExecutor(2), concurrency=1, max_batch_rows=3), [[1.0]] * 7)
    assert len(out) == 7 and model.sizes == [3, 3, 1]
    model = Model()
    _run(VersionRunner("m", 1, model, ThreadPoolExecutor(2), concurrency=1, max_batch_rows=0), [[1.0]] * 4)
    assert model.sizes == [1, 1, 1, 1]


def test_a_failing_row_fails_only_its_own_request() -> None:
    model = Model()
    runner = VersionRunner("m", 1, model, ThreadPoolExecutor(2), concurrency=1)
    out = _run(runner, [[1.0], [-1.0], [2.0]])
    assert out[0].prediction.tolist() == ["pos"] and out[2].prediction.tolist() == ["pos"]
    assert isinstance(out[1], ModelError) and "ValueError" in out[1].message
    assert model.sizes == [3, 1, 1, 1]  # the joined call failed, then each ran alone


def test_a_model_answering_the_wrong_number_of_rows_fails_cleanly() -> None:
    class Short(Model):
        def predict_proba(self, batch: Any) -> Any:
            return np.array([[0.5, 0.5]])  # one row, whatever was asked

    out = _run(VersionRunner("m", 1, Short(), ThreadPoolExecutor(2), concurrency=1), [[1.0, 2.0], [3.0]])
    # the joined call (3 rows) got 1 answer: each request runs alone; the 2-row one still gets too few
    assert isinstance(out[0], ModelError) and out[1].prediction.tolist() == ["neg"]


def test_requests_left_pending_still_time_out() -> None:
    model = Model(delay=1.0)
    runner = VersionRunner(
        "m", 1, model, ThreadPoolExecutor(2), concurrency=1, timeout_s=5.0, queue_timeout_s=0.2, max_batch_rows=1
    )
    t0 = time.perf_counter()
    out = _run(runner, [[1.0], [2.0]])  # arrive together; only the first fits the one slot and the row cap
    assert out[0].prediction.tolist() == ["pos"]
    assert isinstance(out[1], UnavailableError) and time.perf_counter() - t0 < 1.5


def test_the_pending_queue_is_bounded() -> None:
    runner = VersionRunner("m", 1, Model(delay=0.2), ThreadPoolExecutor(2), concurrency=1, max_pending=2)
    out = _run(runner, [[1.0]] * 5)
    assert sum(isinstance(o, UnavailableError) for o in out) == 3


def test_timeout_answers_every_request_in_the_call() -> None:
    model = Model(delay=0.5)
    runner = VersionRunner("m", 1, model, ThreadPoolExecutor(2), concurrency=1, timeout_s=0.1)
    t0 = time.perf_counter()
    out = _run(runner, [[1.0], [2.0]])
    assert all(isinstance(o, ModelTimeoutError) for o in out)
    assert time.perf_counter() - t0 < 0.45


@pytest.mark.parametrize("concurrency", [1, 3])
def test_never_more_calls_at_once_than_the_cap(concurrency: int) -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    class Counting(Model):
        def predict_proba(self, batch: Any) -> Any:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            time.sleep(0.02)
            with lock:
                running -= 1
            return super().predict_proba(batch)

    runner = VersionRunner("m", 1, Counting(), ThreadPoolExecutor(8), concurrency=concurrency, max_batch_rows=1)
    out = _run(runner, [[1.0]] * 12)
    assert all(o.prediction.tolist() == ["pos"] for o in out)
    assert peak == concurrency
