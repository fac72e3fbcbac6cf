"""`modelpilot monitor`: the monitor as its own process, reading the events a server writes to a JSON-lines file
(``events.jsonl_path``). It saves its place in the file with its open windows, so a restart continues where it
stopped. (The Kafka issue adds a topic as a source; the engine is the same.)"""

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
    events: Annotated[Path, typer.Option("--events", help="JSON-lines event file (the server's events.jsonl_path).")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep reading as the file grows, until stopped.")
    ] = False,
    name: Annotated[str | None, typer.Option("--name", help="Snapshot name (default: from the file).")] = None,
) -> None:
    """Run the monitor over an event file: windows, alarms, metrics and snapshots, as inside `modelpilot up`.

    Without --follow it reads to the end, closes the open windows and stops; with --follow it keeps reading and,
    when stopped (Ctrl-C, SIGTERM), saves its open windows and its place in the file for the next start.
    """
    if not events.exists():
        raise InvalidInputError(f"event file {events} does not exist", hint="check --events (events.jsonl_path)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = resolve_settings(ctx)
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
