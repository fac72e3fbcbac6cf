"""The worker's loop on a fake transport: replies go out in order and are committed only once acknowledged, a batch
the broker did not acknowledge is read again, a reply refused for good becomes a dead letter without its value, and
stop() finishes the batch, commits it and closes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import cast

from modelpilot.config.settings import ServingSettings
from modelpilot.serving.state import ModelTable
from modelpilot.streaming.handler import Handler, Incoming, Outgoing
from modelpilot.streaming.transport import SendFailure
from modelpilot.streaming.worker import StreamWorker
from modelpilot.telemetry import metrics


class EchoHandler(Handler):
    """Answers ``b"re:" + value``; ``b"bad"`` is dead-lettered; ``b"stop"`` asks the worker to stop."""

    def __init__(self, model: str) -> None:
        super().__init__(model, cast(ModelTable, None), ServingSettings(), out_topic="out", dead_letter_topic="dlq")
        self.worker: StreamWorker | None = None

    async def handle(self, msg: Incoming) -> Outgoing:
        if msg.value == b"bad":
            return Outgoing("dlq", msg.key, msg.value, [("modelpilot-error-kind", b"parse")], "parse")
        if msg.value == b"stop" and self.worker is not None:
            self.worker.stop()
        return Outgoing("out", msg.key, b"re:" + (msg.value or b""), [], "ok", (msg.key or b"").decode())


Failures = Callable[[int, Sequence[Outgoing], Callable[[], bool]], list[SendFailure]]


class FakeTransport:
    """One partition of ``values``; ``failures(call, messages, give_up)`` decides what each send loses."""

    def __init__(self, values: list[bytes], failures: Failures | None = None) -> None:
        self.log = [Incoming("in", 0, i, f"k{i}".encode(), v, None) for i, v in enumerate(values)]
        self.position = 0
        self.committed = 0
        self.sent: list[Outgoing] = []
        self.sends = 0
        self.failures = failures
        self.closed = False

    def poll(self, max_messages: int, timeout: float) -> list[Incoming]:
        batch = self.log[self.position : self.position + max_messages]
        self.position += len(batch)
        return batch

    def send(self, messages: Sequence[Outgoing], *, give_up: Callable[[], bool]) -> list[SendFailure]:
        self.sends += 1
        lost = [] if self.failures is None else self.failures(self.sends, messages, give_up)
        gone = {f.index for f in lost}
        self.sent.extend(m for i, m in enumerate(messages) if i not in gone)
        return lost

    def commit(self, messages: Sequence[Incoming]) -> bool:
        assert all(m.offset >= self.committed for m in messages), "committed backwards"
        self.committed = max(m.offset for m in messages) + 1
        return True

    def rewind(self, messages: Sequence[Incoming]) -> None:
        self.position = min(m.offset for m in messages)

    def lag(self) -> int | None:
        return len(self.log) - self.position

    def close(self) -> None:
        self.closed = True


def sample(name: str, **labels: str) -> float:
    return sum(v for n, lb, v in metrics.samples() if n == name and all(lb.get(k) == x for k, x in labels.items()))


def test_replies_in_order_committed_after_the_send_and_counted() -> None:
    transport = FakeTransport([b"a", b"bad", b"c", b"d", b"e"])
    worker = StreamWorker(EchoHandler("w-order"), transport, batch_size=2, max_messages=5)
    stats = worker.run()
    assert [m.value for m in transport.sent] == [b"re:a", b"bad", b"re:c", b"re:d", b"re:e"]
    assert [m.topic for m in transport.sent] == ["out", "dlq", "out", "out", "out"]
    assert transport.committed == 5 and transport.closed
    assert (stats.taken, stats.answered, stats.dead_letters, stats.outcomes["parse"]) == (5, 4, 1, 1)
    assert sample("modelpilot_stream_messages_total", model="w-order", outcome="ok") == 4
    assert sample("modelpilot_stream_messages_total", model="w-order", outcome="parse") == 1
    assert sample("modelpilot_stream_lag", model="w-order") == 0


def test_a_batch_the_broker_did_not_acknowledge_is_read_again_not_committed() -> None:
    def first_send_loses_one(call: int, messages: Sequence[Outgoing], give_up: Callable[[], bool]) -> list[SendFailure]:
        return [SendFailure(1, "Local: Message timed out", False)] if call == 1 else []

    transport = FakeTransport([b"a", b"b", b"c"], first_send_loses_one)
    commits: list[int] = []
    commit = transport.commit

    def spy(messages: Sequence[Incoming]) -> bool:
        commits.append(max(m.offset for m in messages) + 1)
        return commit(messages)

    transport.commit = spy  # type: ignore[method-assign]
    stats = StreamWorker(EchoHandler("w-retry"), transport, batch_size=3, max_messages=3).run()
    assert commits == [3]  # once, after the repeated batch was acknowledged
    assert [m.value for m in transport.sent] == [b"re:a", b"re:c", b"re:a", b"re:b", b"re:c"]  # at least once
    assert stats.send_retries == 1 and stats.taken == 3


def test_a_reply_refused_for_good_becomes_a_dead_letter_without_its_value() -> None:
    def too_large(call: int, messages: Sequence[Outgoing], give_up: Callable[[], bool]) -> list[SendFailure]:
        return [SendFailure(0, "Broker: Message size too large", True)] if call == 1 else []

    transport = FakeTransport([b"huge", b"b"], too_large)
    stats = StreamWorker(EchoHandler("w-large"), transport, max_messages=2).run()
    stub = next(m for m in transport.sent if m.topic == "dlq")
    headers = dict(stub.headers)
    assert stub.value is None and stub.key == b"k0"
    assert headers["modelpilot-error-kind"] == b"undeliverable"
    assert b"Message size too large" in (headers["modelpilot-error"] or b"")
    assert headers["modelpilot-source-offset"] == b"0"
    assert transport.committed == 2 and stats.outcomes == {"undeliverable": 1, "ok": 1}


def test_stop_finishes_the_batch_commits_it_and_closes() -> None:
    transport = FakeTransport([b"a", b"stop", b"c", b"d"])
    handler = EchoHandler("w-stop")
    worker = StreamWorker(handler, transport, batch_size=2)
    handler.worker = worker
    stats = worker.run()
    assert [m.value for m in transport.sent] == [b"re:a", b"re:stop"]
    assert transport.committed == 2 and transport.closed and stats.taken == 2


def test_a_stopped_worker_gives_up_waiting_and_commits_nothing() -> None:
    def never_acknowledged(call: int, messages: Sequence[Outgoing], give_up: Callable[[], bool]) -> list[SendFailure]:
        waited = threading.Event()
        while not give_up():
            waited.wait(0.01)
        return [SendFailure(i, "not acknowledged before the worker stopped", False) for i in range(len(messages))]

    transport = FakeTransport([b"stop", b"b"], never_acknowledged)
    handler = EchoHandler("w-give-up")
    worker = StreamWorker(handler, transport, grace_s=0.05)
    handler.worker = worker
    stats = worker.run()
    assert transport.committed == 0 and transport.closed and stats.taken == 0
