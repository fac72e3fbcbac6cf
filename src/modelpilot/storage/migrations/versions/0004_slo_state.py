"""slo: the evaluator's status and ledger per SLO

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 03:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import modelpilot.storage.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slo_state",
        sa.Column("slo", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("status", sa.JSON(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=True),
        sa.Column("updated_at", modelpilot.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("slo", name=op.f("pk_slo_state")),
    )
    with op.batch_alter_table("slo_state", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slo_state_model"), ["model"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("slo_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slo_state_model"))
    op.drop_table("slo_state")
