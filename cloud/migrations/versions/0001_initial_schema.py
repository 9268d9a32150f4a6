"""Initial schema: registry, presence history, config shadow, telemetry, dead letters, API tokens.

Revision ID: 0001
Revises:

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Types spelled out here, not imported from the models: a migration must not change when they do.
DT = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("last_used_at", DT, nullable=True),
        sa.Column("revoked_at", DT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=512), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.String(length=1024), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("received_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dead_letter", schema=None) as batch_op:
        batch_op.create_index("ix_dead_letter_received_at", ["received_at"], unique=False)

    op.create_table(
        "device",
        sa.Column("serial", sa.String(length=64), nullable=True),
        sa.Column("hardware", sa.String(length=32), nullable=True),
        sa.Column("tenant", sa.String(length=64), nullable=True),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("sleep_schedule", JSON, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("firmware_version", sa.String(length=64), nullable=True),
        sa.Column("agent_version", sa.String(length=64), nullable=True),
        sa.Column("capabilities", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=32), nullable=True),
        sa.Column("status_since", DT, nullable=True),
        sa.Column("boot", sa.String(length=64), nullable=True),
        sa.Column("boot_ts", DT, nullable=True),
        sa.Column("conn_floor", sa.BigInteger(), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=True),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("last_seen", DT, nullable=True),
        sa.Column("last_heartbeat_at", DT, nullable=True),
        sa.Column("heartbeat_deadline", DT, nullable=True),
        sa.Column("heartbeat_interval_s", sa.Float(), nullable=True),
        sa.Column("sleep_until", DT, nullable=True),
        sa.Column("flap_score", sa.Float(), nullable=False),
        sa.Column("flap_score_at", DT, nullable=True),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("online_pending_since", DT, nullable=True),
        sa.Column("health", JSON, nullable=False),
        sa.Column("heartbeats", sa.Integer(), nullable=False),
        sa.Column("telemetry_batches", sa.Integer(), nullable=False),
        sa.Column("observations", sa.BigInteger(), nullable=False),
        sa.Column("created_at", DT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.create_index("ix_device_state", ["state"], unique=False)
        batch_op.create_index("ix_device_status", ["status"], unique=False)
        batch_op.create_index("ix_device_heartbeat_deadline", ["heartbeat_deadline"], unique=False)

    op.create_table(
        "observation",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("boot", sa.String(length=64), nullable=False),
        sa.Column("batch", sa.BigInteger(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("hid", sa.String(length=64), nullable=False),
        sa.Column("rssi", sa.SmallInteger(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("lat_e6", sa.Integer(), nullable=True),
        sa.Column("lon_e6", sa.Integer(), nullable=True),
    )
    op.create_table(
        "telemetry_batch",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("boot", sa.String(length=64), nullable=False),
        sa.Column("batch", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("t0_ms", sa.BigInteger(), nullable=False),
        sa.Column("n_obs", sa.Integer(), nullable=False),
        sa.Column("received_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("device_id", "boot", "batch"),
    )
    with op.batch_alter_table("telemetry_batch", schema=None) as batch_op:
        batch_op.create_index("ix_telemetry_batch_device_t0", ["device_id", "t0_ms"], unique=False)

    op.create_table(
        "telemetry_gap",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("boot", sa.String(length=64), nullable=False),
        sa.Column("first_batch", sa.BigInteger(), nullable=False),
        sa.Column("last_batch", sa.BigInteger(), nullable=False),
        sa.Column("t_from_ms", sa.BigInteger(), nullable=False),
        sa.Column("t_to_ms", sa.BigInteger(), nullable=False),
        sa.Column("opened_at", DT, nullable=False),
        sa.Column("closed_at", DT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("telemetry_gap", schema=None) as batch_op:
        batch_op.create_index("ix_telemetry_gap_device_open", ["device_id", "closed_at"], unique=False)

    op.create_table(
        "telemetry_stream",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("boot", sa.String(length=64), nullable=False),
        sa.Column("max_batch", sa.BigInteger(), nullable=False),
        sa.Column("max_t0_ms", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("started_at", DT, nullable=False),
        sa.Column("updated_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("device_id", "boot"),
    )
    op.create_table(
        "config_shadow",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("desired", JSON, nullable=False),
        sa.Column("desired_version", sa.Integer(), nullable=False),
        sa.Column("desired_at", DT, nullable=True),
        sa.Column("published_version", sa.Integer(), nullable=False),
        sa.Column("reported", JSON, nullable=False),
        sa.Column("reported_version", sa.Integer(), nullable=False),
        sa.Column("reported_at", DT, nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["device.id"],
        ),
        sa.PrimaryKeyConstraint("device_id"),
    )
    op.create_table(
        "device_status_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("at", DT, nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("boot", sa.String(length=64), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["device.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("device_status_change", schema=None) as batch_op:
        batch_op.create_index("ix_status_change_device_at", ["device_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("device_status_change", schema=None) as batch_op:
        batch_op.drop_index("ix_status_change_device_at")

    op.drop_table("device_status_change")
    op.drop_table("config_shadow")
    op.drop_table("telemetry_stream")
    with op.batch_alter_table("telemetry_gap", schema=None) as batch_op:
        batch_op.drop_index("ix_telemetry_gap_device_open")

    op.drop_table("telemetry_gap")
    with op.batch_alter_table("telemetry_batch", schema=None) as batch_op:
        batch_op.drop_index("ix_telemetry_batch_device_t0")

    op.drop_table("telemetry_batch")
    op.drop_table("observation")
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_index("ix_device_status")
        batch_op.drop_index("ix_device_heartbeat_deadline")
        batch_op.drop_index("ix_device_state")

    op.drop_table("device")
    with op.batch_alter_table("dead_letter", schema=None) as batch_op:
        batch_op.drop_index("ix_dead_letter_received_at")

    op.drop_table("dead_letter")
    op.drop_table("api_token")
