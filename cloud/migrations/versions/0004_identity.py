"""Identity: enrollment tokens, their audit trail, device credentials.

Revision ID: 0004_identity
Revises: 0003_rollouts

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

DT = sa.DateTime(timezone=True)

revision = "0004_identity"
down_revision = "0003_rollouts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enrollment_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("hardware", sa.String(length=32), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("expires_at", DT, nullable=False),
        sa.Column("used_at", DT, nullable=True),
        sa.Column("used_by", sa.String(length=64), nullable=True),
        sa.Column("revoked_at", DT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "enrollment_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", DT, nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("token_prefix", sa.String(length=16), nullable=True),
        sa.Column("tenant", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_enrollment_event_at", "enrollment_event", ["at"])
    op.create_table(
        "device_credential",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("not_after", DT, nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("revoked_at", DT, nullable=True),
        sa.Column("revoke_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("serial"),
    )
    op.create_index("ix_device_credential_device", "device_credential", ["device_id"])


def downgrade() -> None:
    op.drop_index("ix_device_credential_device", table_name="device_credential")
    op.drop_table("device_credential")
    op.drop_index("ix_enrollment_event_at", table_name="enrollment_event")
    op.drop_table("enrollment_event")
    op.drop_table("enrollment_token")
