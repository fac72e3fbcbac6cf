"""`modelpilot monitor`: the monitor as its own process, reading the events a server writes to a JSON-lines file
(``events.jsonl_path``), or with ``--bus kafka`` as one worker of a consumer group on the Kafka topics
(:mod:`modelpilot.monitoring.kafka_worker`). Either way it saves its place with its open windows, so a restart
continues where it stopped."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from modelpilot.cli.context import registry
from modelpilot.cli.context import settings as resolve_settings
from modelpilot.cli.output import err_console
from modelpilot.errors import InvalidInputError
from modelpilot.events.reader import read_events
from modelpilot.monitoring.service import MonitorService

__all__ = ["monitor"]

log = logging.getLogger("modelpilot.monitor")


def monitor(
    ctx: typer.Context,
    events: Annotated[
        Path | None, typer.Option("--events", help="JSON-lines event file (the server's events.jsonl_path).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep reading as the file grows, until stopped.")
    ] = False,
    name: Annotated[str | None, typer.Option("--name", help="Snapshot name (default: from the file).")] = None,
    bus: Annotated[
        str | None, typer.Option("--bus", help="file (with --events) or kafka (default: events.bus).")
    ] = None,
    group: Annotated[str, typer.Option("--group", help="Consumer group of the Kafka workers.")] = "modelpilot-monitor",
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve /metrics on this port (Kafka workers).")
    ] = None,
    metrics_host: Annotated[str, typer.Option("--metrics-host", help="Address of /metrics.")] = "127.0.0.1",
) -> None:
    """Run the monitor over an event file or as a Kafka worker: windows, alarms, metrics and snapshots, as inside
    `modelpilot up`.

    With --events: without --follow it reads to the end, closes the open windows and stops; with --follow it keeps
    reading and, when stopped (Ctrl-C, SIGTERM), saves its open windows and its place in the file for the next
    start. With --bus kafka: one member of the consumer group --group; run several to share the partitions
    (docs/operations.md).
    """
    settings = resolve_settings(ctx)
    source = bus or ("file" if events is not None else settings.events.bus)
    if source == "kafka":
        if events is not None:
            raise InvalidInputError("--events and --bus kafka: pick one source", hint="drop --events")
        _run_kafka(ctx, group, metrics_port, metrics_host)
        return
    if source not in ("file", "memory"):
        raise InvalidInputError(f"--bus {source!r} is not a source", hint="use --bus file or --bus kafka")
    if events is None:
        raise InvalidInputError("--events is missing", hint="give --events FILE, or --bus kafka to read the topics")
    if not events.exists():
        raise InvalidInputError(f"event file {events} does not exist", hint="check --events (events.jsonl_path)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    svc = MonitorService(registry(ctx), settings.monitor, name=name or f"monitor:{events.resolve()}")
    try:
        svc.restore()
    except Exception as exc:  # a snapshot this build cannot read: start afresh rather than not at all
        log.warning("monitor: the saved snapshot could not be restored (%s); starting from the file's start", exc)
    stat = events.stat()
    same_file = svc.position.get("path") == str(events.resolve()) and svc.position.get("inode") == stat.st_ino
    offset = int(svc.position.get("offset", 0)) if same_file else 0
    if offset > stat.st_size:  # truncated in place: start over
        offset = 0
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    taken = bad_lines = windows = 0
    last_snapshot = time.monotonic()
    try:
        while not stop.is_set():
            batch, offset, bad = read_events(events, offset)
            for reason in bad[:5]:
                log.warning("%s: %s", events, reason)
            bad_lines += len(bad)
            windows += len(svc.handle(batch))
            taken += len(batch)
            svc.position = {"path": str(events.resolve()), "inode": stat.st_ino, "offset": offset}
            if batch:
                continue
            if not follow:
                break
            windows += len(svc.tick())
            if time.monotonic() - last_snapshot >= settings.monitor.snapshot_s:
                svc.snapshot()
                last_snapshot = time.monotonic()
            stop.wait(settings.monitor.tick_s)
        if not follow:
            windows += len(svc.flush())
        svc.snapshot()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    alarms = list(svc.alarms)
    err_console.print(
        f"monitor: {taken} events, {windows} windows, {len(alarms)} alarm transitions"
        + (f", {bad_lines} lines skipped (not events)" if bad_lines else ""),
        highlight=False,
    )
    for a in alarms:
        subjects = ", ".join(f"{k} ({s})" for k, s in sorted(a.subjects.items())) or "-"
        err_console.print(
            f"  {a.model} v{a.version} {a.variant} window {a.window}: {a.kind} {a.transition}: {subjects}"
        )


def _run_kafka(ctx: typer.Context, group: str, metrics_port: int | None, metrics_host: str) -> None:
    from modelpilot.events.factory import kafka_bus
    from modelpilot.events.model import AlarmEvent
    from modelpilot.monitoring.kafka_worker import KafkaMonitor
    from modelpilot.monitoring.results import Alarm

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = resolve_settings(ctx)
    k = settings.events.kafka
    signals = kafka_bus(settings)  # makes the topics if missing; alarms go out on the signals topic

    def announce(alarm: Alarm) -> None:
        signals.publish(AlarmEvent(alarm.model_dump(mode="json"), time.time()))

    if metrics_port is not None:
        serve_metrics(metrics_host, metrics_port)
    worker = KafkaMonitor(
        registry(ctx),
        settings.monitor,
        bootstrap=k.bootstrap,
        topics=[k.inference_topic, k.feedback_topic],
        group=group,
        config=k.config,
        on_alarm=announce,
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        worker.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    err_console.print(f"monitor: worker of group {group} on {k.bootstrap}", highlight=False)
    try:
        worker.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signals.close()
    err_console.print(
        f"monitor: {worker.events} events" + (f", {worker.skipped} messages skipped" if worker.skipped else ""),
        highlight=False,
    )


def serve_metrics(host: str, port: int) -> None:
    """Serve this process's /metrics on ``host:port`` (a daemon thread)."""
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        raise InvalidInputError(
            f"--metrics-port: cannot listen on {host}:{port} ({exc.strerror})", hint="pick a free port"
        ) from None
