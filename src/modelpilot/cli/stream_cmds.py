"""`modelpilot stream`: answer inference requests from a Kafka topic with a model's traffic plan."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from modelpilot.cli.context import registry
from modelpilot.cli.context import settings as resolve_settings
from modelpilot.cli.output import err_console
from modelpilot.errors import ConfigError

__all__ = ["stream"]


def _metrics_server(host: str, port: int) -> None:
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        raise ConfigError(
            f"--metrics-port: cannot listen on {host}:{port} ({exc.strerror})",
            hint="pick a free port, or leave --metrics-port out",
        ) from None


def stream(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The model whose traffic plan answers (as `modelpilot serve` does).")],
    in_topic: Annotated[str, typer.Option("--in", help="Topic of the request messages (OIP v2 or v1 records).")],
    out_topic: Annotated[str, typer.Option("--out", help="Topic the replies go to, keyed like the requests.")],
    group: Annotated[
        str | None, typer.Option("--group", help="Consumer group (default modelpilot-stream-NAME).")
    ] = None,
    dead_letter: Annotated[
        str | None,
        typer.Option("--dead-letter", help="Topic of the messages that cannot be answered (default IN.dlq)."),
    ] = None,
    bootstrap: Annotated[
        str | None, typer.Option("--bootstrap", help="host:port of the brokers (default events.kafka.bootstrap).")
    ] = None,
    create_topics: Annotated[
        bool, typer.Option("--create-topics", help="Create the topics that do not exist yet.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=10_000, help="Most messages answered and committed together.")
    ] = 100,
    max_messages: Annotated[
        int | None, typer.Option("--max-messages", min=1, help="Stop after this many messages (default: run on).")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", min=1, max=65535, help="Serve /metrics on this port (at serving.host)."),
    ] = None,
) -> None:
    """Answer inference requests from a Kafka topic with NAME's traffic plan, replies to --out.

    Messages that cannot be answered go to the dead-letter topic with the reason in their headers. Offsets are
    committed only after the broker acknowledged the replies; SIGTERM or Ctrl-C finishes the current batch,
    commits it and leaves the consumer group.
    """
    try:
        from modelpilot.streaming.service import StreamOptions, StreamService
    except ImportError as exc:  # confluent-kafka is the optional `kafka` extra
        raise ConfigError(
            f"modelpilot stream needs the Kafka client ({exc.name or exc} is not installed)",
            hint="pip install 'modelpilot[kafka]'",
        ) from None

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    s = resolve_settings(ctx)
    options = StreamOptions(
        model=name,
        in_topic=in_topic,
        out_topic=out_topic,
        group=group,
        dead_letter=dead_letter,
        bootstrap=bootstrap,
        create_topics=create_topics,
        batch_size=batch_size,
        max_messages=max_messages,
    )
    service = StreamService(s, registry(ctx), options)
    if metrics_port is not None:
        _metrics_server(s.serving.host, metrics_port)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        service.stop()

    main_thread = threading.current_thread() is threading.main_thread()  # signals reach the main thread only
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
    err_console.print(
        f"modelpilot stream: {name} answers {in_topic} -> {out_topic} (dead letters: {service.dead_letter}); "
        f"group {service.group}; brokers {service.bootstrap}; events {'on' if service.bus is not None else 'off'}",
        highlight=False,
    )
    try:
        stats = service.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(stats.outcomes.items()) if k != "ok")
    err_console.print(
        f"stream: {stats.taken} messages: {stats.answered} answered, {stats.dead_letters} dead-lettered"
        + (f" ({kinds})" if kinds else ""),
        highlight=False,
    )
