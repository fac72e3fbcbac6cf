"""monitoring: profiles, window results, alarms, monitor state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 23:58:17.193808
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import modelpilot.storage.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("versions") as batch:
        batch.add_column(sa.Column("outputs", sa.JSON(), nullable=True))
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("transition", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("alarm", sa.JSON(), nullable=False),
        sa.Column("recorded_at", modelpilot.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
    )
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.create_index("ix_alarms_model", ["model", "id"], unique=False)

    op.create_table(
        "monitor_state",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", modelpilot.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_monitor_state")),
    )
    op.create_table(
        "window_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=16), nullable=False),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("start_time", modelpilot.storage.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_time", modelpilot.storage.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("recorded_at", modelpilot.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_window_results")),
    )
    with op.batch_alter_table("window_results", schema=None) as batch_op:
        batch_op.create_index("ix_window_results_stream", ["model", "version", "variant", "id"], unique=False)

    op.create_table(
        "profiles",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("built_at", modelpilot.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("built_by", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_profiles_model_id_models"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("model_id", "version", name=op.f("pk_profiles")),
    )


def downgrade() -> None:
    op.drop_table("profiles")
    with op.batch_alter_table("window_results", schema=None) as batch_op:
        batch_op.drop_index("ix_window_results_stream")

    op.drop_table("window_results")
    op.drop_table("monitor_state")
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_index("ix_alarms_model")

    op.drop_table("alarms")
    with op.batch_alter_table("versions") as batch:
        batch.drop_column("outputs")
