"""Campaign world (tenants, assets, campaigns, windows, spots, zones, device history, shipments,
infrastructure ids), tenant API keys on api_token, and the analytics rollup tables.

Revision ID: 0002
Revises: 0001

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Types spelled out here, not imported from the models (as in 0001).
DT = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_active",
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("grain", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("asset_id", "grain"),
    )
    op.create_table(
        "analytics_impression",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("zone_id", sa.String(length=64), nullable=False),
        sa.Column("hid", sa.String(length=16), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("grain", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("randomized", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "asset_id", "zone_id", "hid", "at"),
    )
    with op.batch_alter_table("analytics_impression", schema=None) as batch_op:
        batch_op.create_index(
            "ix_analytics_impression_campaign_grain", ["campaign_id", "grain"], unique=False
        )

    op.create_table(
        "analytics_presence",
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("grain", sa.BigInteger(), nullable=False),
        sa.Column("hid", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("asset_id", "grain", "hid"),
    )
    op.create_table(
        "analytics_seen",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("zone_id", sa.String(length=64), nullable=False),
        sa.Column("hid", sa.String(length=16), nullable=False),
        sa.Column("grain", sa.BigInteger(), nullable=False),
        sa.Column("randomized", sa.Boolean(), nullable=False),
        sa.Column("span_first", sa.BigInteger(), nullable=True),
        sa.Column("span_last", sa.BigInteger(), nullable=True),
        sa.Column("rssi_first", sa.SmallInteger(), nullable=True),
        sa.Column("rssi_last", sa.SmallInteger(), nullable=True),
        sa.PrimaryKeyConstraint("campaign_id", "grain", "asset_id", "zone_id", "hid"),
    )
    op.create_table(
        "analytics_session",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("zone_id", sa.String(length=64), nullable=False),
        sa.Column("hid", sa.String(length=16), nullable=False),
        sa.Column("session_start", sa.BigInteger(), nullable=False),
        sa.Column("session_end", sa.BigInteger(), nullable=False),
        sa.Column("grain", sa.BigInteger(), nullable=False),
        sa.Column("randomized", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "asset_id", "zone_id", "hid", "session_start"),
    )
    with op.batch_alter_table("analytics_session", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_session_campaign_grain", ["campaign_id", "grain"], unique=False)

    op.create_table(
        "infrastructure_hid",
        sa.Column("hid", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("hid"),
    )
    op.create_table(
        "tenant",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "asset",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=True),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "campaign",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("advertiser_id", sa.String(length=64), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=True),
        sa.Column("exposure_rssi", sa.Integer(), nullable=False),
        sa.Column("passerby_rssi", sa.Integer(), nullable=False),
        sa.Column("dedup_window_s", sa.Integer(), nullable=False),
        sa.Column("session_gap_s", sa.Integer(), nullable=False),
        sa.Column("visitor_dwell_s", sa.Integer(), nullable=False),
        sa.Column("engaged_dwell_s", sa.Integer(), nullable=False),
        sa.Column("k", sa.Integer(), nullable=False),
        sa.Column("crew_fraction", sa.Float(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["advertiser_id"],
            ["tenant.id"],
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_advertiser", ["advertiser_id"], unique=False)
        batch_op.create_index("ix_campaign_agency", ["agency_id"], unique=False)

    op.create_table(
        "shipment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tracking", sa.String(length=128), nullable=False),
        sa.Column("sent_at", DT, nullable=False),
        sa.Column("received_at", DT, nullable=True),
        sa.Column("installed_at", DT, nullable=True),
        sa.Column("returned_at", DT, nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("shipment", schema=None) as batch_op:
        batch_op.create_index("ix_shipment_device", ["device_id"], unique=False)

    op.create_table(
        "ad_spot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("starts_at", DT, nullable=False),
        sa.Column("ends_at", DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ad_spot", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ad_spot_campaign_asset", ["campaign_id", "asset_id", "starts_at"], unique=False
        )

    op.create_table(
        "campaign_asset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("starts_at", DT, nullable=False),
        sa.Column("ends_at", DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("campaign_asset", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_asset_asset", ["asset_id", "starts_at"], unique=False)

    op.create_table(
        "device_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("mounted_at", DT, nullable=False),
        sa.Column("unmounted_at", DT, nullable=True),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("device_history", schema=None) as batch_op:
        batch_op.create_index("ix_device_history_device", ["device_id", "mounted_at"], unique=False)

    op.create_table(
        "exposure_zone",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("geometry", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
        ),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("campaign_id", "id"),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tenant_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("scopes", sa.String(length=256), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_api_token_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_tenant_id"))
        batch_op.drop_column("scopes")
        batch_op.drop_column("tenant_id")

    op.drop_table("exposure_zone")
    with op.batch_alter_table("device_history", schema=None) as batch_op:
        batch_op.drop_index("ix_device_history_device")

    op.drop_table("device_history")
    with op.batch_alter_table("campaign_asset", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_asset_asset")

    op.drop_table("campaign_asset")
    with op.batch_alter_table("ad_spot", schema=None) as batch_op:
        batch_op.drop_index("ix_ad_spot_campaign_asset")

    op.drop_table("ad_spot")
    with op.batch_alter_table("shipment", schema=None) as batch_op:
        batch_op.drop_index("ix_shipment_device")

    op.drop_table("shipment")
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_agency")
        batch_op.drop_index("ix_campaign_advertiser")

    op.drop_table("campaign")
    op.drop_table("asset")
    op.drop_table("tenant")
    op.drop_table("infrastructure_hid")
    with op.batch_alter_table("analytics_session", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_session_campaign_grain")

    op.drop_table("analytics_session")
    op.drop_table("analytics_seen")
    op.drop_table("analytics_presence")
    with op.batch_alter_table("analytics_impression", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_impression_campaign_grain")

    op.drop_table("analytics_impression")
    op.drop_table("analytics_active")
