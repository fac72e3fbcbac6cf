"""`modelpilot serve` (the data plane) and `modelpilot up` (the embedded shape: server plus, as later issues add
them, the in-process monitor and controller)."""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from modelpilot.cli.context import settings as resolve_settings
from modelpilot.cli.output import err_console
from modelpilot.config import Settings, load_settings
from modelpilot.errors import ConfigError

__all__ = ["serve", "up"]

HostOpt = Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1; env MODELPILOT_SERVING__HOST).")]
PortOpt = Annotated[int | None, typer.Option(help="TCP port (default 8000).")]
WorkersOpt = Annotated[int | None, typer.Option(help="Server processes (default 1).")]
TlsCertOpt = Annotated[
    Path | None,
    typer.Option("--tls-cert", help="PEM certificate to serve HTTPS with (serving.tls_cert); needs --tls-key."),
]
TlsKeyOpt = Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert (serving.tls_key).")]


def _with_serving(
    base: Settings,
    host: str | None,
    port: int | None,
    workers: int | None,
    slo_specs: list[Path] | None = None,
    policy: Path | None = None,
    tls: tuple[Path | None, Path | None] = (None, None),
) -> Settings:
    serving = base.serving.model_dump()
    given = (("host", host), ("port", port), ("workers", workers), ("tls_cert", tls[0]), ("tls_key", tls[1]))
    for key, value in given:
        if value is not None:
            serving[key] = value
    data = base.model_dump()
    data["serving"] = serving
    if slo_specs:
        data["slo"] = {**data["slo"], "specs": [*data["slo"]["specs"], *slo_specs]}
    if policy is not None:
        data["control"] = {**data["control"], "policy": policy}
    return load_settings(None, **data)


def _check_port(host: str, port: int) -> None:
    """Fail before loading any model when the address is taken (uvicorn would only say so after start-up)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"serving.port: cannot listen on {host}:{port} ({exc.strerror})",
                hint="stop whatever uses that port, or pick another with --port",
            ) from None


def _run(s: Settings, *, embedded: bool = False) -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sv = s.serving
    _check_port(sv.host, sv.port)
    from modelpilot.serving.context import is_loopback

    tls = _tls_files(sv.tls_cert, sv.tls_key)
    auth_on = s.auth.inference_required if s.auth.inference_required is not None else not is_loopback(sv.host)
    auth_word = "on" if auth_on else "off"
    events_word = "on" if s.events.enabled else "off"
    err_console.print(
        f"modelpilot serving on {'https' if tls else 'http'}://{sv.host}:{sv.port} with {sv.workers} worker(s); "
        f"store {s.store_url.split('@')[-1]}; inference auth {auth_word}; events {events_word}",
        highlight=False,
    )
    common = {
        "host": sv.host,
        "port": sv.port,
        "access_log": False,
        "timeout_graceful_shutdown": max(1, int(sv.drain_timeout_s)),
        "log_level": "info",
        "server_header": False,
        **tls,
    }
    if sv.workers == 1:
        from modelpilot.serving.app import create_app

        uvicorn.run(create_app(s, monitor=embedded), **common)  # type: ignore[arg-type]
        return
    # Worker processes read their settings from the environment; metrics are merged across them.
    os.environ["MODELPILOT_HOME"] = str(s.home)
    os.environ["MODELPILOT_STORE"] = s.store_url
    os.environ["MODELPILOT_ACTOR"] = s.actor_name
    for key, value in s.serving.model_dump().items():
        if value is not None:
            os.environ[f"MODELPILOT_SERVING__{key.upper()}"] = str(value)
    _export("MODELPILOT_EVENTS", s.events.model_dump(mode="json"))
    _export("MODELPILOT_AUTH", s.auth.model_dump(mode="json"))  # every auth setting (metrics_required too)
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="modelpilot-metrics-"))
    uvicorn.run(
        "modelpilot.serving.app:create_app_from_env",
        factory=True,
        workers=sv.workers,
        **common,  # type: ignore[arg-type]
    )


def _tls_files(cert: Path | None, key: Path | None) -> dict[str, str]:
    """uvicorn's TLS options, after checking both files are there and make a TLS context (a bad pair fails here,
    with the field named, rather than in the middle of uvicorn's start-up)."""
    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        missing = "serving.tls_cert (--tls-cert)" if cert is None else "serving.tls_key (--tls-key)"
        raise ConfigError(f"{missing} is missing", hint="give both the certificate and its private key, or neither")
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"serving.tls_cert / tls_key: {cert} and {key} do not make a TLS key pair ({exc})",
            hint="give a PEM certificate and the PEM private key it was made for",
        ) from None
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


def _export(prefix: str, data: dict[str, object]) -> None:
    """Put a settings subtree in the environment for worker processes (nested names joined by ``__``)."""
    for key, value in data.items():
        name = f"{prefix}__{key.upper()}"
        if isinstance(value, dict) and key != "config":
            _export(name, value)
        elif value is None:
            os.environ.pop(name, None)
        elif isinstance(value, dict | list):
            os.environ[name] = json.dumps(value)
        else:
            os.environ[name] = str(value).lower() if isinstance(value, bool) else str(value)


def serve(
    ctx: typer.Context,
    host: HostOpt = None,
    port: PortOpt = None,
    workers: WorkersOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
) -> None:
    """Serve every model that has a traffic plan (Open Inference Protocol v2, v1 records, admin API, /metrics)."""
    _run(_with_serving(resolve_settings(ctx), host, port, workers, tls=(tls_cert, tls_key)))


SloOpt = Annotated[
    list[Path] | None,
    typer.Option("--slo", help="SLO spec file to evaluate in this process (repeatable; adds to slo.specs)."),
]


PolicyOpt = Annotated[
    Path | None, typer.Option("--policy", help="Remediation policy file (control.policy; docs/remediation.md).")
]


def up(
    ctx: typer.Context,
    host: HostOpt = None,
    port: PortOpt = None,
    slo: SloOpt = None,
    policy: PolicyOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
) -> None:
    """Run the embedded shape in one process: the server, the monitor, the SLO evaluator and the controller
    (rollouts, and remediation with a policy)."""
    settings = _with_serving(resolve_settings(ctx), host, port, 1, slo, policy, tls=(tls_cert, tls_key))
    _run(settings, embedded=True)
