"""OTA rollouts: releases (signed document + artifact key), deployments, per-device jobs and job history.

Revision ID: 0002
Revises: 0001

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Types spelled out here, not imported from the models: a migration must not change when they do.
DT = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0003_rollouts"
down_revision = "0002_ops_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("hardware", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("expires", DT, nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("artifact_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("ready_at", DT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hardware", "model", "version", name="uq_release_target_version"),
    )
    with op.batch_alter_table("release", schema=None) as batch_op:
        batch_op.create_index("ix_release_created_at", ["created_at"], unique=False)

    op.create_table(
        "deployment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("selector", JSON, nullable=False),
        sa.Column("waves", JSON, nullable=False),
        sa.Column("wave_sizes", JSON, nullable=False),
        sa.Column("success_threshold", sa.Float(), nullable=False),
        sa.Column("max_failure_rate", sa.Float(), nullable=False),
        sa.Column("job_deadline_s", sa.Integer(), nullable=False),
        sa.Column("soak_s", sa.Integer(), nullable=False),
        sa.Column("health_margins", JSON, nullable=False),
        sa.Column("base_url", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_reason", sa.String(length=512), nullable=True),
        sa.Column("current_wave", sa.Integer(), nullable=False),
        sa.Column("wave_started_at", DT, nullable=True),
        sa.Column("soak_started_at", DT, nullable=True),
        sa.Column("health_accepted_wave", sa.Integer(), nullable=True),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("updated_at", DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["release.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.create_index("ix_deployment_state", ["state"], unique=False)

    op.create_table(
        "rollout_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("progress", sa.Integer(), nullable=True),
        sa.Column("offer_state", sa.String(length=16), nullable=False),
        sa.Column("offered_at", DT, nullable=True),
        sa.Column("deadline", DT, nullable=True),
        sa.Column("version_before", sa.String(length=64), nullable=True),
        sa.Column("boot_before", sa.String(length=64), nullable=True),
        sa.Column("booted_boot", sa.String(length=64), nullable=True),
        sa.Column("saw_heartbeat", sa.Boolean(), nullable=False),
        sa.Column("saw_telemetry", sa.Boolean(), nullable=False),
        sa.Column("device_confirmed", sa.Boolean(), nullable=False),
        sa.Column("heartbeats_base", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", DT, nullable=False),
        sa.Column("finished_at", DT, nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployment.id"],
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["device.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("deployment_id", "device_id", name="uq_rollout_job_device"),
    )
    with op.batch_alter_table("rollout_job", schema=None) as batch_op:
        batch_op.create_index("ix_rollout_job_device_state", ["device_id", "state"], unique=False)
        batch_op.create_index("ix_rollout_job_offer", ["offer_state"], unique=False)
        batch_op.create_index("ix_rollout_job_wave_state", ["deployment_id", "wave", "state"], unique=False)

    op.create_table(
        "rollout_job_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("at", DT, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("progress", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["rollout_job.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rollout_job_event", schema=None) as batch_op:
        batch_op.create_index("ix_rollout_job_event_job", ["job_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rollout_job_event", schema=None) as batch_op:
        batch_op.drop_index("ix_rollout_job_event_job")

    op.drop_table("rollout_job_event")
    with op.batch_alter_table("rollout_job", schema=None) as batch_op:
        batch_op.drop_index("ix_rollout_job_wave_state")
        batch_op.drop_index("ix_rollout_job_offer")
        batch_op.drop_index("ix_rollout_job_device_state")

    op.drop_table("rollout_job")
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.drop_index("ix_deployment_state")

    op.drop_table("deployment")
    with op.batch_alter_table("release", schema=None) as batch_op:
        batch_op.drop_index("ix_release_created_at")

    op.drop_table("release")
