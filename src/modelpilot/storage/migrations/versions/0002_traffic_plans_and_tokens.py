"""traffic plans and tokens

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:33:04.213649
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import modelpilot.storage.tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", modelpilot.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("revoked_at", modelpilot.storage.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tokens_token_hash")),
    )
    op.create_table(
        "traffic_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("changed_at", modelpilot.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_traffic_history_model_id_models"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_traffic_history")),
    )
    with op.batch_alter_table("traffic_history", schema=None) as batch_op:
        batch_op.create_index("ix_traffic_history_model", ["model_id", "id"], unique=False)

    op.create_table(
        "traffic_plans",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", modelpilot.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_traffic_plans_model_id_models"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_traffic_plans")),
    )


def downgrade() -> None:
    op.drop_table("traffic_plans")
    with op.batch_alter_table("traffic_history", schema=None) as batch_op:
        batch_op.drop_index("ix_traffic_history_model")

    op.drop_table("traffic_history")
    op.drop_table("tokens")
