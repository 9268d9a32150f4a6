"""Ops users and their browser sessions (the fleet UI's sign-in).

Revision ID: 0002_ops_users
Revises: 0001

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

DT = sa.DateTime(timezone=True)

revision = "0002_ops_users"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("last_login_at", DT, nullable=True),
        sa.Column("disabled_at", DT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "ops_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("expires_at", DT, nullable=False),
        sa.Column("revoked_at", DT, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["ops_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_ops_session_expires_at", "ops_session", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_ops_session_expires_at", table_name="ops_session")
    op.drop_table("ops_session")
    op.drop_table("ops_user")
