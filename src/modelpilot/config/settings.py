"""The one typed settings tree, read once at start-up and frozen.

Sources, strongest first: explicit overrides (CLI options), environment variables (prefix ``MODELPILOT_``,
``__`` between nested names, e.g. ``MODELPILOT_REGISTRY__MAX_CATEGORIES=500``), an optional YAML file
(``--config FILE`` or ``MODELPILOT_CONFIG``), then the defaults below. Unknown keys are refused.

Example:
    >>> s = load_settings(home="/tmp/mp-doc")
    >>> s.store_url
    'sqlite:////tmp/mp-doc/modelpilot.db'
    >>> s.registry.max_categories
    1000
"""

from __future__ import annotations

import getpass
import os
import socket
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from modelpilot.errors import ConfigError

__all__ = [
    "KAFKA_PUBLIC_KEYS",
    "AuthSettings",
    "ControlSettings",
    "EventSettings",
    "KafkaSettings",
    "MonitorSettings",
    "RegistrySettings",
    "ServingSettings",
    "Settings",
    "SloSettings",
    "SpoolSettings",
    "WindowSettings",
    "load_settings",
]


KAFKA_PUBLIC_KEYS = frozenset(
    {"security.protocol", "sasl.mechanism", "sasl.mechanisms", "ssl.ca.location", "ssl.certificate.location",
     "ssl.endpoint.identification.algorithm", "client.id", "compression.type", "acks", "linger.ms", "batch.size",
     "socket.timeout.ms", "session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms", "fetch.min.bytes",
     "message.max.bytes", "enable.idempotence", "sasl.username", "sasl.kerberos.service.name"}
)  # fmt: skip
"""librdkafka settings ``config show`` prints as they are; any other value of ``events.kafka.config`` is masked."""


class RegistrySettings(BaseModel):
    """Settings of the model registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_categories: int = Field(
        1000,
        ge=1,
        description="A text column with more distinct values than this in the reference data is typed 'string' "
        "(free text) instead of 'category' when a signature is inferred.",
    )
    production_alias: str = Field("production", description="The alias `promote` moves by default.")


class ServingSettings(BaseModel):
    """Settings of `modelpilot serve` and `modelpilot up`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address to bind; anything but loopback turns inference auth on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0 picks a free one).")
    workers: int = Field(1, ge=1, le=64, description="Server processes (each loads every served model).")
    tls_cert: Path | None = Field(None, description="PEM certificate (chain) to serve HTTPS with; needs tls_key.")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert.")
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    max_rows: int = Field(10_000, ge=1, description="Rows (batch size) allowed in one request; more get 413.")
    model_timeout_s: float = Field(10.0, gt=0, description="A model call slower than this answers 504.")
    model_concurrency: int = Field(
        2,
        ge=1,
        description="Model calls running at once per model version; more requests wait for a free slot "
        "and are joined into the next call.",
    )
    max_batch_rows: int = Field(
        256,
        ge=0,
        description="Most rows joined into one model call from requests that arrive together "
        "(0: never join; for models whose rows are not independent).",
    )
    queue_timeout_s: float = Field(
        5.0, gt=0, description="How long a request waits for a free model slot before answering 503."
    )
    shadow_queue: int = Field(1000, ge=1, description="Shadow calls waiting to run; beyond it they are dropped.")
    plan_poll_s: float = Field(0.5, gt=0, le=2.0, description="How often a replica checks the store for plan changes.")
    drain_timeout_s: float = Field(15.0, ge=0, description="On SIGTERM, how long in-flight requests may finish.")
    gc_young: int = Field(
        20_000,
        ge=700,
        description="Allocations between young-generation garbage collections (Python's default is 700). Fewer "
        "collections promote fewer in-flight requests' objects, so full collections over what the monitor holds "
        "come rarely.",
    )


class AuthSettings(BaseModel):
    """Who may call what."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inference_required: bool | None = Field(
        None,
        description="Inference routes need a `predict` token. Default: on when the server binds to a "
        "non-loopback address, off on loopback. Admin routes always need a token.",
    )
    metrics_required: bool = Field(
        False, description="/metrics needs a token (any role; give Prometheus a predict token). Off by default."
    )


class KafkaSettings(BaseModel):
    """The Kafka bus (``events.bus: kafka``; docs/operations.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap: str = Field("127.0.0.1:9092", min_length=1, description="host:port[,host:port] of the brokers.")
    partitions: int = Field(
        6, ge=1, le=1024, description="Partitions of the topics modelpilot creates (most useful monitor workers)."
    )
    inference_topic: str = Field("modelpilot.inference", min_length=1, description="Inference events.")
    feedback_topic: str = Field("modelpilot.feedback", min_length=1, description="Labels.")
    signals_topic: str = Field("modelpilot.signals", min_length=1, description="Alarms and SLO alerts.")
    message_timeout_s: float = Field(
        5.0, ge=1.0, le=300.0, description="How long the producer retries an event before it goes to the spool."
    )
    config: dict[str, str] = Field(
        default_factory=dict, description="Extra librdkafka settings for every client (e.g. security.protocol)."
    )
    batch: bool = Field(
        True,
        description="Send consecutive inference events of one model as one io.modelpilot.inference.batch message "
        "(an Arrow stream); off for consumers of the topic that read only single events.",
    )


class SpoolSettings(BaseModel):
    """The disk spool that holds events while the broker is unreachable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: Path | None = Field(None, description="Folder of the spool's segments; default <home>/spool/<host>-<pid>.")
    max_bytes: int = Field(1 << 30, ge=1 << 20, description="Most bytes held; beyond it events are dropped, loudly.")
    segment_bytes: int = Field(16 << 20, ge=1 << 16, description="Size at which a segment is closed.")
    fsync: Literal["always", "segment", "never"] = Field(
        "segment",
        description="always: fsync after every write (nothing lost on power loss, slowest); segment: when a "
        "segment is closed and every second; never: leave it to the OS (survives a process crash, not power loss).",
    )


class EventSettings(BaseModel):
    """The inference event stream."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Emit one event per request and per shadow call.")
    bus: Literal["memory", "kafka"] = Field(
        "memory", description="memory: in this process (the embedded default); kafka: topics on a broker."
    )
    queue_size: int = Field(
        10_000,
        ge=1,
        description="Events waiting in memory for the bus; beyond it they spill to disk (memory bus with spill on) "
        "or are dropped and counted.",
    )
    spill: bool = Field(
        True,
        description="memory bus: events that do not fit in the queue wait in segment files under <home>/overflow "
        "(bounded by events.spool.max_bytes) instead of being dropped, and are delivered in order.",
    )
    jsonl_path: Path | None = Field(None, description="Also append every event to this JSON-lines file.")
    kafka: KafkaSettings = Field(default_factory=lambda: KafkaSettings())
    spool: SpoolSettings = Field(default_factory=lambda: SpoolSettings())


class WindowSettings(BaseModel):
    """A window size: rows or seconds, whichever comes first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: int = Field(1000, ge=1, description="Rows (predictions) per window.")
    seconds: float = Field(60.0, gt=0, description="Longest time a window stays open.")


class MonitorSettings(BaseModel):
    """The monitor (inside `modelpilot up`, or as `modelpilot monitor`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Run the monitor inside `modelpilot up`.")
    window: WindowSettings = Field(default_factory=lambda: WindowSettings())
    models: dict[str, WindowSettings] = Field(default_factory=dict, description="Window sizes per model name.")
    label_ttl_s: float = Field(7 * 86400.0, gt=0, description="How long a prediction waits for its label.")
    max_pending_labels: int = Field(100_000, ge=1, description="Predictions held for label joins at most.")
    max_pending_label_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024 * 1024,
        description="Bytes the predictions held for label joins may take at most (per monitor); the oldest go first.",
    )
    snapshot_s: float = Field(30.0, gt=0, description="How often open windows and pending joins are saved.")
    tick_s: float = Field(1.0, gt=0, description="How often time-based windows are checked.")
    journal: bool = Field(
        True,
        description="modelpilot up on the memory bus: every batch the monitor takes is written to <home>/journal "
        "first (fsync as events.spool.fsync) and cut at each snapshot; a killed process replays it at start.",
    )
    commit_s: float = Field(
        5.0,
        gt=0,
        description="Kafka workers: closed windows reach the store (with the snapshot and offsets that passed them) "
        "at most this long after they closed; each write carries the label joins that changed since the last.",
    )


class SloSettings(BaseModel):
    """The in-process SLO evaluator (inside `modelpilot up`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specs: list[Path] = Field(default_factory=list, description="SLO spec files to evaluate (see docs/slo.md).")
    tick_s: float = Field(10.0, gt=0, le=60, description="How often the SLOs are evaluated.")
    snapshot_s: float = Field(60.0, gt=0, description="How often the budgets' ledgers are saved to the store.")


class ControlSettings(BaseModel):
    """The controller inside `modelpilot up`: rollouts always; remediation when a policy is given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: Path | None = Field(None, description="Remediation policy file (see docs/remediation.md).")
    freeze_s: float = Field(86400.0, gt=0, description="How long a `freeze` action holds rollouts back.")


class Settings(BaseSettings):
    """Everything modelpilot reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="MODELPILOT_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    home: Path = Field(Path(".modelpilot"), description="Folder for the SQLite store and the artifact store.")
    store: str | None = Field(
        None,
        description="SQLAlchemy URL of the store; default sqlite:///<home>/modelpilot.db. "
        "Use postgresql://user:pass@host/db for many nodes.",
    )
    actor: str | None = Field(None, description="Who the audit log names for CLI actions; default user@host.")
    registry: RegistrySettings = Field(default_factory=lambda: RegistrySettings())
    serving: ServingSettings = Field(default_factory=lambda: ServingSettings())
    auth: AuthSettings = Field(default_factory=lambda: AuthSettings())
    events: EventSettings = Field(default_factory=lambda: EventSettings())
    monitor: MonitorSettings = Field(default_factory=lambda: MonitorSettings())
    slo: SloSettings = Field(default_factory=lambda: SloSettings())
    control: ControlSettings = Field(default_factory=lambda: ControlSettings())

    @field_validator("store")
    @classmethod
    def _check_store(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("must start with sqlite:/// or postgresql:// (e.g. postgresql://user@localhost/mp)")
        return value

    @property
    def store_url(self) -> str:
        """The store URL with the default filled in."""
        if self.store:
            return self.store
        return f"sqlite:///{self.home / 'modelpilot.db'}"

    def redacted(self) -> dict[str, Any]:
        """The settings as JSON types, safe to print: the store URL's password hidden, and every value of
        ``events.kafka.config`` masked unless its key is one of :data:`KAFKA_PUBLIC_KEYS` (a librdkafka setting
        that holds no secret); secrets are masked because they may be one, not because their name says so.

        >>> s = Settings(events={"kafka": {"config": {"sasl.password": "hunter2", "security.protocol": "SSL"}}})
        >>> s.redacted()["events"]["kafka"]["config"]
        {'sasl.password': '***', 'security.protocol': 'SSL'}
        """
        from sqlalchemy.engine import make_url

        from modelpilot.storage.store import normalise_url

        data = self.model_dump(mode="json")
        data["store"] = make_url(normalise_url(self.store_url)).render_as_string(hide_password=True)
        config = data["events"]["kafka"]["config"]
        data["events"]["kafka"]["config"] = {k: v if k in KAFKA_PUBLIC_KEYS else "***" for k, v in config.items()}
        return data

    @property
    def artifacts_dir(self) -> Path:
        """Root of the content-addressed artifact store."""
        return self.home / "artifacts"

    @property
    def actor_name(self) -> str:
        """The actor recorded in the audit log for this process's actions."""
        if self.actor:
            return self.actor
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry, e.g. in some containers
            user = "unknown"
        return f"{user}@{socket.gethostname()}"


def _yaml_source(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"config file {path} cannot be read: {exc.strerror}",
            hint="pass an existing YAML file to --config",
        ) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}", hint="fix the YAML syntax") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level", hint="e.g. `home: ./mp`")
    return data


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Resolve the settings tree once: overrides > environment > YAML file > defaults.

    ``None`` overrides are ignored, so CLI options that were not given do not hide the environment.
    Raises :class:`~modelpilot.errors.ConfigError` naming every invalid field.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    path = config_file if config_file is not None else os.environ.get("MODELPILOT_CONFIG")
    file_data = _yaml_source(Path(path)) if path else {}

    class _Resolved(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=file_data))

    try:
        return _Resolved(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        origin = f" (from {path}, the environment or options)" if path else " (from the environment or options)"
        raise ConfigError(
            f"invalid settings{origin}: {problems}",
            hint="check the names against `modelpilot config show`; environment variables use MODELPILOT_ and __",
        ) from exc
