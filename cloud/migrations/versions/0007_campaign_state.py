"""A campaign's own state (draft | active | paused) and reason, and the log of its changes.

Revision ID: 0007_campaign_state
Revises: 0006_integrations

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

DT = sa.DateTime(timezone=True)

revision = "0007_campaign_state"
down_revision = "0006_integrations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        # Existing campaigns start as drafts; billing's next event for each moves it.
        batch_op.add_column(sa.Column("state", sa.String(length=16), nullable=False, server_default="draft"))
        batch_op.add_column(sa.Column("state_reason", sa.String(length=512), nullable=True))
    op.create_table(
        "campaign_state_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=512), nullable=True),
        sa.Column("at", DT, nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("campaign_state_change", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_state_change_campaign_at", ["campaign_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("campaign_state_change", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_state_change_campaign_at")
    op.drop_table("campaign_state_change")
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_column("state_reason")
        batch_op.drop_column("state")
