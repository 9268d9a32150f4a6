"""Route rollup: the first GPS fix per asset and UTC minute (docs/metrics.md §2.9).

Revision ID: 0009_asset_route
Revises: 0007_campaign_state

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_asset_route"
down_revision = "0007_campaign_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_route",
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("lat_e6", sa.Integer(), nullable=False),
        sa.Column("lon_e6", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("asset_id", "minute"),
    )


def downgrade() -> None:
    op.drop_table("analytics_route")
