"""Heartbeat samples: one row per heartbeat received (lag and health), kept for a bounded window.

Revision ID: 0010_heartbeat_samples
Revises: 0009_asset_route
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Types spelled out here, not imported from the models (as in 0001).
DT = sa.DateTime(timezone=True)

revision = "0010_heartbeat_samples"
down_revision = "0009_asset_route"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "heartbeat_sample",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", DT, nullable=False),
        sa.Column("device_ts", DT, nullable=False),
        sa.Column("lag_s", sa.Float(), nullable=False),
        sa.Column("uptime_s", sa.BigInteger(), nullable=True),
        sa.Column("rssi", sa.Integer(), nullable=True),
        sa.Column("free_mem", sa.BigInteger(), nullable=True),
        sa.Column("free_disk", sa.BigInteger(), nullable=True),
        sa.Column("outbox", sa.Integer(), nullable=True),
        sa.Column("dropped", sa.Integer(), nullable=True),
        sa.Column("temp_dc", sa.Integer(), nullable=True),
        sa.Column("load_x100", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("heartbeat_sample", schema=None) as batch_op:
        batch_op.create_index(
            "ix_heartbeat_sample_device_received", ["device_id", "received_at"], unique=False
        )
        batch_op.create_index("ix_heartbeat_sample_received", ["received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("heartbeat_sample", schema=None) as batch_op:
        batch_op.drop_index("ix_heartbeat_sample_received")
        batch_op.drop_index("ix_heartbeat_sample_device_received")
    op.drop_table("heartbeat_sample")
