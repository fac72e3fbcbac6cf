"""A stream worker put together from the settings: topics checked, models loaded, event bus, Kafka clients.

Example:
    >>> default_group("credit"), default_dead_letter("credit.requests")
    ('modelpilot-stream-credit', 'credit.requests.dlq')
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from confluent_kafka import KafkaException

from modelpilot.config.settings import Settings
from modelpilot.errors import ConfigError
from modelpilot.events.bus import Bus
from modelpilot.events.factory import open_bus as configured_bus
from modelpilot.events.sinks import JsonlSink
from modelpilot.registry import Registry
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.state import ModelTable
from modelpilot.serving.traffic import TrafficPlans
from modelpilot.storage import Store
from modelpilot.streaming.handler import Handler
from modelpilot.streaming.transport import KafkaTransport, check_topic_names, ensure_topics
from modelpilot.streaming.worker import StreamStats, StreamWorker

__all__ = ["StreamOptions", "StreamService", "default_dead_letter", "default_group", "open_bus"]

log = logging.getLogger(__name__)


def default_group(model: str) -> str:
    """The consumer group of a model's stream workers unless one is given."""
    return f"modelpilot-stream-{model}"


def default_dead_letter(in_topic: str) -> str:
    """The dead-letter topic of an input topic unless one is given."""
    return f"{in_topic}.dlq"


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """What to consume, where to answer, and how (the ``modelpilot stream`` options)."""

    model: str
    in_topic: str
    out_topic: str
    group: str | None = None
    dead_letter: str | None = None
    bootstrap: str | None = None
    create_topics: bool = False
    batch_size: int = 100
    max_messages: int | None = None


def open_bus(settings: Settings) -> tuple[Bus | None, JsonlSink | None]:
    """The configured event bus, as the server opens it (``None`` when events are off), and its JSON-lines sink."""
    events = settings.events
    if not events.enabled:
        return None, None
    bus = configured_bus(settings)  # refuses events.jsonl_path with the Kafka bus
    sink = JsonlSink(events.jsonl_path) if events.jsonl_path else None
    if sink is not None:
        bus.subscribe(sink)
    return bus, sink


def _bad_config(exc: KafkaException) -> ConfigError:
    return ConfigError(
        f"events.kafka.config: the Kafka clients refuse it: {exc.args[0].str() if exc.args else exc}",
        hint="fix or remove the librdkafka setting it names",
    )


class _OnePlan(TrafficPlans):
    """The traffic plans with only one model's in view, so a worker loads that model's versions and no others."""

    def __init__(self, store: Store, model: str) -> None:
        super().__init__(store)
        self.model = model

    def all(self) -> tuple[int, dict[str, TrafficPlan]]:
        revision, plans = super().all()
        return revision, {name: plan for name, plan in plans.items() if name == self.model}


class StreamService:
    """One stream worker and everything it owns; :meth:`run` blocks until it stops, then releases it all.

    Parameters
    ----------
    settings
        Serving limits, the event bus, and ``events.kafka`` (bootstrap and extra client settings).
    registry
        Where the model's versions and traffic plans are read.
    options
        Topics, group and limits.
    bus
        Replaces the configured event bus (tests); ``None``: the one the settings say.
    seed
        Seeds the routers' random choices.
    """

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        options: StreamOptions,
        *,
        bus: Bus | None = None,
        seed: int | None = None,
    ) -> None:
        self.options = options
        self.bootstrap = options.bootstrap or settings.events.kafka.bootstrap
        self.group = options.group or default_group(options.model)
        self.dead_letter = options.dead_letter or default_dead_letter(options.in_topic)
        topics = {"--in": options.in_topic, "--out": options.out_topic, "--dead-letter": self.dead_letter}
        check_topic_names(topics)
        registry.versions(options.model)  # refuses a model that is not registered, naming it
        config = dict(settings.events.kafka.config)
        from confluent_kafka.admin import AdminClient

        try:
            admin = AdminClient({"bootstrap.servers": self.bootstrap, **config})
        except KafkaException as exc:
            raise _bad_config(exc) from None
        ensure_topics(
            admin,
            topics,
            bootstrap=self.bootstrap,
            create=options.create_topics,
            partitions=settings.events.kafka.partitions,
        )
        try:
            transport = KafkaTransport(self.bootstrap, group=self.group, in_topic=options.in_topic, config=config)
        except KafkaException as exc:
            raise _bad_config(exc) from None
        self._sink = None
        if bus is None:
            try:
                bus, self._sink = open_bus(settings)
            except Exception:
                transport.close()
                raise
        self.bus = bus if settings.events.enabled else None
        sv = settings.serving
        self.executor = ThreadPoolExecutor(max_workers=sv.model_concurrency * 16, thread_name_prefix="modelpilot-model")
        self.table = ModelTable(registry, _OnePlan(registry.store, options.model), self.executor, sv, seed=seed)
        self.handler = Handler(
            options.model,
            self.table,
            sv,
            out_topic=options.out_topic,
            dead_letter_topic=self.dead_letter,
            publish=None if self.bus is None else self.bus.publish,
        )
        self.worker = StreamWorker(
            self.handler,
            transport,
            table=self.table,
            batch_size=options.batch_size,
            max_messages=options.max_messages,
            plan_poll_s=sv.plan_poll_s,
            grace_s=sv.drain_timeout_s,
            shadow_capacity=sv.shadow_queue,
        )
        self._drain_s = sv.drain_timeout_s

    def stop(self) -> None:
        """Finish the current batch, commit, and leave the group."""
        self.worker.stop()

    def run(self) -> StreamStats:
        """Consume until stopped (or ``max_messages``); then flush the events and release everything."""
        try:
            return self.worker.run()
        finally:
            self.close()

    def close(self) -> None:
        """Flush and close the event bus, stop the model threads."""
        if self.bus is not None:
            if not self.bus.flush(self._drain_s):
                log.warning("shutdown: event bus not flushed within %.1f s", self._drain_s)
            self.bus.close(self._drain_s)
        if self._sink is not None:
            self._sink.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
