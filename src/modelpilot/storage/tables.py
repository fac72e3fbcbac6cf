"""SQLAlchemy Core tables: the one schema, shared by SQLite and PostgreSQL.

Changes to this module need an Alembic migration in ``storage/migrations/versions`` (a test compares the two).
Times are stored as UTC; JSON columns hold plain JSON (never pickle).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

__all__ = [
    "UTCDateTime",
    "alarms",
    "alias_history",
    "aliases",
    "audit_head",
    "audit_log",
    "decisions",
    "leases",
    "metadata",
    "models",
    "monitor_state",
    "profiles",
    "rollouts",
    "slo_state",
    "tokens",
    "traffic_history",
    "traffic_plans",
    "versions",
    "window_results",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both dialects (SQLite keeps no zone; we put UTC back on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a timezone-aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # pragma: no cover - defensive, SQLAlchemy parses SQLite text for us
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(256), nullable=False),
)

versions = Table(
    "versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="RESTRICT"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("format", String(32), nullable=False),
    Column("artifact_digest", String(64), nullable=True),
    Column("artifact_size", BigInteger, nullable=True),
    Column("artifact_name", String(512), nullable=True),
    Column("entrypoint", String(512), nullable=True),
    Column("signature", JSON, nullable=False),
    Column("reference_digest", String(64), nullable=True),
    Column("reference_rows", BigInteger, nullable=True),
    Column("target", String(256), nullable=True),
    Column("outputs", JSON, nullable=True),
    Column("metrics", JSON, nullable=False),
    Column("lineage", JSON, nullable=False),
    Column("trust", JSON, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(256), nullable=False),
    UniqueConstraint("model_id", "version", name="uq_versions_model_version"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id", ondelete="RESTRICT"), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="RESTRICT"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("version", Integer, nullable=True),
    Column("previous_version", Integer, nullable=True),
    Column("moved_at", UTCDateTime, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("reason", Text, nullable=False),
    Column("forced", Boolean, nullable=False, default=False),
    Column("audit_seq", BigInteger, nullable=True),
    Index("ix_alias_history_lookup", "model_id", "alias", "moved_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("time", UTCDateTime, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("model", String(128), nullable=True),
    Column("reason", Text, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_model_time", "model", "time"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

traffic_plans = Table(
    "traffic_plans",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id", ondelete="RESTRICT"), primary_key=True),
    Column("plan", JSON, nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(256), nullable=False),
)
"""The current traffic plan of each served model; ``revision`` is global and grows with every change."""

traffic_history = Table(
    "traffic_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="RESTRICT"), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("plan", JSON, nullable=True),
    Column("kind", String(32), nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_traffic_history_model", "model_id", "id"),
)
"""Every plan a model has had, newest last: what ``rollback`` reads to find the last known-good version."""

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("revoked_by", String(256), nullable=True),
)
"""API bearer tokens: only the SHA-256 of each secret is kept; the secret is shown once, at creation."""

profiles = Table(
    "profiles",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id", ondelete="RESTRICT"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("profile", JSON, nullable=False),
    Column("built_at", UTCDateTime, nullable=False),
    Column("built_by", String(256), nullable=False),
)
"""The reference profile of each version that has reference data (rebuilt on demand, never edited by hand)."""

window_results = Table(
    "window_results",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("variant", String(16), nullable=False),
    Column("window", BigInteger, nullable=False),
    Column("start_time", UTCDateTime, nullable=True),
    Column("end_time", UTCDateTime, nullable=True),
    Column("rows", BigInteger, nullable=False),
    Column("result", JSON, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Index("ix_window_results_stream", "model", "version", "variant", "id"),
)
"""One row per closed monitor window: drift, quality and performance, as the monitor judged them."""

alarms = Table(
    "alarms",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("variant", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("transition", String(16), nullable=False),
    Column("severity", String(16), nullable=True),
    Column("window", BigInteger, nullable=False),
    Column("alarm", JSON, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Index("ix_alarms_model", "model", "id"),
)
"""Every alarm transition (raised, escalated, changed, resolved) with its evidence."""

monitor_state = Table(
    "monitor_state",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
"""Snapshots of monitor workers' open windows, alarm memories and label-join counters, for restarts."""

label_joins = Table(
    "label_joins",
    metadata,
    Column("owner", String(128), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("key", String(40), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("data", JSON, nullable=False),
)
"""What a monitor's label joiner holds (``owner``: its snapshot name): predictions waiting for their label, labels
waiting for (more) predictions, requests whose predictions were dropped unlabelled. One ``segment`` row per snapshot
(``key`` and ``seq``: the segment's number) with the entries added or changed since the last and the requests whose
stored entries went; read back in order on restore (see :mod:`modelpilot.monitoring.performance.journal`). Rows of
the kinds ``pending``, ``label`` and ``gone`` (one per request, keyed by a digest of its id) come from an older
build; they are read, and replaced at the next snapshot."""

slo_state = Table(
    "slo_state",
    metadata,
    Column("slo", String(200), primary_key=True),
    Column("model", String(128), nullable=False, index=True),
    Column("status", JSON, nullable=False),
    Column("state", JSON, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)
"""Each SLO's latest status (what `modelpilot slo status` prints) and the evaluator's ledger, for restarts."""

rollouts = Table(
    "rollouts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("phase", String(24), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("state", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_rollouts_model_active", "model", "active"),
)
"""Every rollout and its state machine (one active per model, checked in the write transaction)."""

leases = Table(
    "leases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("renewed_at", UTCDateTime, nullable=False),
)
"""Leader leases: the controller that holds ``control`` acts; the others wait for it to expire."""

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model", String(128), nullable=False),
    Column("rule", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("status", String(24), nullable=False),
    Column("signal_id", String(400), nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("outcome", JSON, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_decisions_status", "status"),
)
"""Remediation decisions to carry out: ``pending`` (decided, not yet done), ``awaiting_approval``, then ``done``,
``skipped``, ``failed``, ``cancelled`` or ``expired``. A controller that died between deciding and acting finds its
pending decisions here on restart."""
