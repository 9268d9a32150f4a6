"""Billing tables: what we asked Stripe for, what Stripe told us, and what usage we reported.

    BillingEvent     one row per Stripe event id: a replayed event finds its row and changes nothing
    CampaignBilling  per campaign: package, Stripe ids, payment state (+ reason) and the `created`
                     of the event that set it, so an older event arriving late cannot undo a newer one
    SeatSubscription per media operator subscription: status, seats, same ordering rule
    UsageReport      the usage ledger: one row per (campaign, UTC day), written before the meter event
                     is sent and marked sent after; Stripe's idempotency key is the row's identifier
    CatalogPrice     the products/prices we created in Stripe, by lookup key

Campaigns and tenants are referred to by id only: their tables belong to cloud/campaigns.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Index
from sqlmodel import Field, SQLModel

from cloud.core.types import UTCDateTime


class PaymentState(enum.StrEnum):
    PENDING = "pending"  # checkout started, nothing paid yet
    PAID = "paid"  # the campaign may run
    FAILED = "failed"  # a payment failed: the campaign is paused, `reason` says why
    CANCELED = "canceled"  # the subscription ended


class EventOutcome(enum.StrEnum):
    APPLIED = "applied"
    STALE = "stale"  # older than the state it would change (out of order)
    IGNORED = "ignored"  # a type or object we do not act on
    UNMATCHED = "unmatched"  # names no campaign/tenant we know


class BillingEvent(SQLModel, table=True):
    __tablename__ = "billing_event"

    id: str = Field(primary_key=True, max_length=255)  # Stripe's evt_...
    type: str = Field(max_length=64)
    created: int = Field(sa_type=BigInteger)  # Stripe's epoch seconds
    outcome: str = Field(max_length=16)
    detail: str = Field(default="", max_length=512)
    received_at: datetime = Field(sa_type=UTCDateTime)


class CampaignBilling(SQLModel, table=True):
    __tablename__ = "billing_campaign"
    __table_args__ = (Index("ix_billing_campaign_subscription", "subscription_id"),)

    campaign_id: str = Field(primary_key=True, max_length=64)
    advertiser_id: str = Field(max_length=64)
    package: str = Field(max_length=64)
    checkout_session_id: str | None = Field(default=None, max_length=255)
    customer_id: str | None = Field(default=None, max_length=255)
    subscription_id: str | None = Field(default=None, max_length=255)
    payment_state: str = Field(default=PaymentState.PENDING, max_length=16)
    reason: str | None = Field(default=None, max_length=512)
    # `created` (Stripe epoch s) of the event that set payment_state; None before any event.
    state_at: int | None = Field(default=None, sa_type=BigInteger)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    @property
    def active(self) -> bool:
        return self.payment_state == PaymentState.PAID


class CampaignBillingPublic(SQLModel):
    campaign_id: str
    advertiser_id: str
    package: str
    payment_state: str
    active: bool
    reason: str | None
    customer_id: str | None
    subscription_id: str | None
    updated_at: datetime


class SeatSubscription(SQLModel, table=True):
    __tablename__ = "billing_seat_subscription"
    __table_args__ = (Index("ix_billing_seat_tenant", "tenant_id"),)

    subscription_id: str = Field(primary_key=True, max_length=255)
    tenant_id: str = Field(max_length=64)
    customer_id: str | None = Field(default=None, max_length=255)
    status: str = Field(max_length=32)
    seats: int = 0
    state_at: int = Field(sa_type=BigInteger)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class UsageStatus(enum.StrEnum):
    PENDING = "pending"  # recorded, meter event not yet acknowledged by Stripe
    SENT = "sent"


class UsageReport(SQLModel, table=True):
    __tablename__ = "billing_usage"

    campaign_id: str = Field(primary_key=True, max_length=64)
    day: str = Field(primary_key=True, max_length=10)  # UTC day, YYYY-MM-DD
    impressions: int = Field(sa_type=BigInteger)
    identifier: str = Field(max_length=100, unique=True)  # meter event identifier = idempotency key
    customer_id: str = Field(max_length=255)
    status: str = Field(default=UsageStatus.PENDING, max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CatalogPrice(SQLModel, table=True):
    __tablename__ = "billing_catalog_price"

    lookup_key: str = Field(primary_key=True, max_length=128)
    product_id: str = Field(max_length=255)
    price_id: str = Field(max_length=255)
