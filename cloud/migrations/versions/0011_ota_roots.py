"""OTA roots: each root the fleet rotated to, served to devices walking their roots forward.

Revision ID: 0011_ota_roots
Revises: 0010_heartbeat_samples
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Types spelled out here, not imported from the models (as in 0001).
DT = sa.DateTime(timezone=True)

revision = "0011_ota_roots"
down_revision = "0010_heartbeat_samples"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ota_root",
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("expires", DT, nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )


def downgrade() -> None:
    op.drop_table("ota_root")
