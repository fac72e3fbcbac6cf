"""`modelpilot control`: the controller as its own process, for the scaled-out shape on Kafka.

It judges rollouts and, with a remediation policy, acts on alarms and SLO alerts, exactly as inside
`modelpilot up`. Every replica reads every partition of the inference and signals topics from their end (not as a
consumer group: the replica that acts must see all the traffic); the leader lease in the store decides which one
acts, and a replica that stops cleanly hands the lease over at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from modelpilot.cli.context import registry as open_registry
from modelpilot.cli.context import settings as resolve_settings
from modelpilot.cli.monitor_run import serve_metrics
from modelpilot.cli.output import err_console
from modelpilot.errors import ConfigError

__all__ = ["control"]

log = logging.getLogger("modelpilot.control")


def control(
    ctx: typer.Context,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Remediation policy file (control.policy; docs/remediation.md).")
    ] = None,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", help="Serve /metrics on this port.")] = None,
    metrics_host: Annotated[str, typer.Option("--metrics-host", help="Address of /metrics.")] = "127.0.0.1",
) -> None:
    """Run the controller on the Kafka bus: rollouts always, remediation with a policy; one leader acts."""
    from modelpilot.control.actions import Actuator
    from modelpilot.control.controller import RolloutController
    from modelpilot.control.lease import Lease
    from modelpilot.control.policy import load_policy
    from modelpilot.control.remediator_service import RemediationController
    from modelpilot.events.factory import kafka_bus

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = resolve_settings(ctx)
    if settings.events.bus != "kafka":
        raise ConfigError(
            "events.bus: `modelpilot control` reads the events from Kafka",
            hint="set events.bus=kafka (MODELPILOT_EVENTS__BUS=kafka); on one machine `modelpilot up` has a controller",
        )
    chosen = policy or settings.control.policy
    rules = load_policy(chosen) if chosen is not None else None
    registry = open_registry(ctx)
    if metrics_port is not None:
        serve_metrics(metrics_host, metrics_port)
    bus = kafka_bus(settings)  # its producer carries the remediation's own events (and spools them)
    k = settings.events.kafka
    actor = f"controller@{settings.actor_name}"
    lease = Lease(registry.store)
    rollouts = RolloutController(registry, actor=actor, lease=lease)
    bus.subscribe(rollouts, group=None, topics=[k.inference_topic, k.signals_topic])
    remediation = None
    if rules is not None:
        actuator = Actuator(registry, actor=actor, freeze_s=settings.control.freeze_s)
        remediation = RemediationController(registry, rules, actor=actor, actuator=actuator, lease=lease)
        bus.subscribe(remediation, group=None, topics=[k.signals_topic])
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    rollouts.start()
    if remediation is not None:
        remediation.start()
    err_console.print(
        f"control: rollouts{' and remediation (' + str(chosen) + ')' if remediation else ''} on {k.bootstrap}",
        highlight=False,
    )
    try:
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if remediation is not None:
            remediation.stop()
        rollouts.stop()
        lease.release()  # a clean stop: another replica takes over at once
        bus.close()
        registry.store.close()
