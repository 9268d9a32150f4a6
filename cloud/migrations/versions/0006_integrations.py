"""Partner integrations: Stripe billing (events, campaign payment state, seats, usage ledger, catalog),
S3 partner exports, BlueZoo cursor and sensors.

Revision ID: 0006_integrations
Revises: 0005_campaigns

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Types spelled out here, not imported from the models (as in 0001).
DT = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0006_integrations"
down_revision = "0005_campaigns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_campaign",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("advertiser_id", sa.String(length=64), nullable=False),
        sa.Column("package", sa.String(length=64), nullable=False),
        sa.Column("checkout_session_id", sa.String(length=255), nullable=True),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("subscription_id", sa.String(length=255), nullable=True),
        sa.Column("payment_state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=512), nullable=True),
        sa.Column("state_at", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("campaign_id"),
    )
    with op.batch_alter_table("billing_campaign", schema=None) as batch_op:
        batch_op.create_index("ix_billing_campaign_subscription", ["subscription_id"], unique=False)

    op.create_table(
        "billing_catalog_price",
        sa.Column("lookup_key", sa.String(length=128), nullable=False),
        sa.Column("product_id", sa.String(length=255), nullable=False),
        sa.Column("price_id", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("lookup_key"),
    )
    op.create_table(
        "billing_event",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=512), nullable=False),
        sa.Column("received_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "billing_seat_subscription",
        sa.Column("subscription_id", sa.String(length=255), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("state_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("subscription_id"),
    )
    with op.batch_alter_table("billing_seat_subscription", schema=None) as batch_op:
        batch_op.create_index("ix_billing_seat_tenant", ["tenant_id"], unique=False)

    op.create_table(
        "billing_usage",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("identifier", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("sent_at", DT, nullable=True),
        sa.PrimaryKeyConstraint("campaign_id", "day"),
        sa.UniqueConstraint("identifier"),
    )
    op.create_table(
        "bluezoo_cursor",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("cursor", sa.String(length=1024), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("imported", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    op.create_table(
        "partner_export",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("export_key", sa.String(length=255), nullable=False),
        sa.Column("partner", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=True),
        sa.Column("schema_version", sa.String(length=32), nullable=False),
        sa.Column("objects", JSON, nullable=False),
        sa.Column("manifest_key", sa.String(length=512), nullable=True),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("upload_state", JSON, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("partner_detail", sa.String(length=1024), nullable=True),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("updated_at", DT, nullable=False),
        sa.Column("completed_at", DT, nullable=True),
        sa.Column("confirmed_at", DT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("export_key"),
    )
    with op.batch_alter_table("partner_export", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partner_export_campaign_id"), ["campaign_id"], unique=False)

    op.create_table(
        "bluezoo_sensor",
        sa.Column("sensor_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("next_batch", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["device.id"],
        ),
        sa.PrimaryKeyConstraint("sensor_id"),
    )


def downgrade() -> None:
    op.drop_table("bluezoo_sensor")
    with op.batch_alter_table("partner_export", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_export_campaign_id"))

    op.drop_table("partner_export")
    op.drop_table("bluezoo_cursor")
    op.drop_table("billing_usage")
    with op.batch_alter_table("billing_seat_subscription", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_seat_tenant")

    op.drop_table("billing_seat_subscription")
    op.drop_table("billing_event")
    op.drop_table("billing_catalog_price")
    with op.batch_alter_table("billing_campaign", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_campaign_subscription")

    op.drop_table("billing_campaign")
