"""What we sell, as Stripe products and prices, and the Checkout Sessions that sell it.

* A **campaign package** is a subscription with two prices: a flat monthly fee and a metered price
  per delivered impression (fed by `usage.report_usage` through a Stripe billing meter).
* A **seat** is a media operator's SaaS seat: a per-unit monthly price, quantity = seats.

Prices are found by `lookup_key` (ours, stable), created once, and cached in `CatalogPrice`;
every creation carries an idempotency key derived from the lookup key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from cloud.billing.exceptions import BillingError
from cloud.billing.models import CampaignBilling, CatalogPrice, PaymentState
from cloud.billing.stripe_api import StripeApi


@dataclass(frozen=True, slots=True)
class CampaignPackage:
    key: str  # e.g. "city-month"
    name: str
    monthly_cents: int
    # Price of one delivered impression in cents, as a decimal string (Stripe's unit_amount_decimal).
    impression_cents: str
    currency: str = "eur"

    @property
    def flat_lookup_key(self) -> str:
        return f"campaign:{self.key}:flat"

    @property
    def metered_lookup_key(self) -> str:
        return f"campaign:{self.key}:impressions"


@dataclass(frozen=True, slots=True)
class SeatPlan:
    key: str = "operator-seat"
    name: str = "Mobilytics fleet seat"
    monthly_cents: int = 4900
    currency: str = "eur"

    @property
    def lookup_key(self) -> str:
        return f"seat:{self.key}"


@dataclass(frozen=True, slots=True)
class Catalog:
    packages: tuple[CampaignPackage, ...]
    seat: SeatPlan = SeatPlan()
    meter_event: str = "mobilytics_impressions"

    def package(self, key: str) -> CampaignPackage:
        for p in self.packages:
            if p.key == key:
                return p
        raise BillingError(f"unknown campaign package {key!r}")


def _meter_key(event_name: str) -> str:
    return f"meter:{event_name}"


def _ensure_price(
    session: Session, api: StripeApi, *, lookup_key: str, product_name: str, price: dict[str, Any]
) -> str:
    row = session.get(CatalogPrice, lookup_key)
    if row is not None:
        return row.price_id
    found = api.price_by_lookup_key(lookup_key)
    if found is None:
        product = api.create_product(
            name=product_name, metadata={"lookup_key": lookup_key}, key=f"product:{lookup_key}"
        )
        found = api.create_price(
            {**price, "product": product["id"], "lookup_key": lookup_key}, key=f"price:{lookup_key}"
        )
    product_id = found["product"] if isinstance(found["product"], str) else found["product"]["id"]
    session.add(CatalogPrice(lookup_key=lookup_key, product_id=product_id, price_id=found["id"]))
    session.flush()
    return str(found["id"])


def sync_catalog(session: Session, api: StripeApi, catalog: Catalog) -> dict[str, str]:
    """Make sure every price (and the impressions meter) exists in Stripe; lookup key -> price id.

    Safe to run on every start: what exists is found (locally, then by lookup key) and reused.
    """
    meter_row = session.get(CatalogPrice, _meter_key(catalog.meter_event))
    if meter_row is None:
        meter = api.create_meter(
            event_name=catalog.meter_event,
            display_name="Delivered impressions",
            key=_meter_key(catalog.meter_event),
        )
        # The meter is kept in the same cache: it has no product, its id goes in price_id.
        meter_row = CatalogPrice(
            lookup_key=_meter_key(catalog.meter_event), product_id="", price_id=meter["id"]
        )
        session.add(meter_row)
        session.flush()
    prices: dict[str, str] = {}
    for p in catalog.packages:
        prices[p.flat_lookup_key] = _ensure_price(
            session,
            api,
            lookup_key=p.flat_lookup_key,
            product_name=f"Campaign package: {p.name}",
            price={
                "currency": p.currency,
                "unit_amount": p.monthly_cents,
                "recurring": {"interval": "month"},
            },
        )
        prices[p.metered_lookup_key] = _ensure_price(
            session,
            api,
            lookup_key=p.metered_lookup_key,
            product_name=f"Delivered impressions: {p.name}",
            price={
                "currency": p.currency,
                "unit_amount_decimal": p.impression_cents,
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter_row.price_id},
            },
        )
    prices[catalog.seat.lookup_key] = _ensure_price(
        session,
        api,
        lookup_key=catalog.seat.lookup_key,
        product_name=catalog.seat.name,
        price={
            "currency": catalog.seat.currency,
            "unit_amount": catalog.seat.monthly_cents,
            "recurring": {"interval": "month"},
        },
    )
    return prices


@dataclass(frozen=True, slots=True)
class CheckoutStarted:
    session_id: str
    url: str


def start_campaign_checkout(
    session: Session,
    api: StripeApi,
    catalog: Catalog,
    *,
    campaign_id: str,
    advertiser_id: str,
    package: str,
    success_url: str,
    cancel_url: str,
    now: datetime,
) -> CheckoutStarted:
    """A Checkout Session for an advertiser buying `package` for a campaign; the campaign stays
    inactive (payment_state pending) until Stripe tells us it was paid."""
    pkg = catalog.package(package)
    prices = sync_catalog(session, api, catalog)
    row = session.get(CampaignBilling, campaign_id)
    if row is not None and row.payment_state == PaymentState.PAID:
        raise BillingError(f"campaign {campaign_id!r} is already paid")
    metadata = {"kind": "campaign", "campaign_id": campaign_id, "advertiser_id": advertiser_id}
    params = {
        "mode": "subscription",
        "client_reference_id": campaign_id,
        "line_items": [
            {"price": prices[pkg.flat_lookup_key], "quantity": 1},
            {"price": prices[pkg.metered_lookup_key]},
        ],
        "metadata": metadata,
        # Copied onto the subscription and so onto its invoices: invoice events find the campaign
        # even when they arrive before checkout.session.completed.
        "subscription_data": {"metadata": metadata},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    # A double click (or a retry) in the same day gets the same session back from Stripe.
    cs = api.create_checkout_session(params, key=f"checkout:{campaign_id}:{package}:{now.date().isoformat()}")
    if row is None:
        row = CampaignBilling(
            campaign_id=campaign_id, advertiser_id=advertiser_id, package=package, updated_at=now
        )
    row.package = package
    row.checkout_session_id = cs["id"]
    row.updated_at = now
    session.add(row)
    session.flush()
    return CheckoutStarted(session_id=cs["id"], url=cs.get("url") or "")


def start_seat_checkout(
    session: Session,
    api: StripeApi,
    catalog: Catalog,
    *,
    tenant_id: str,
    seats: int,
    success_url: str,
    cancel_url: str,
    now: datetime,
) -> CheckoutStarted:
    """A Checkout Session for a media operator's seat subscription (quantity = seats)."""
    if seats < 1:
        raise BillingError("a seat subscription needs at least one seat")
    prices = sync_catalog(session, api, catalog)
    metadata = {"kind": "seats", "tenant_id": tenant_id}
    params = {
        "mode": "subscription",
        "client_reference_id": tenant_id,
        "line_items": [{"price": prices[catalog.seat.lookup_key], "quantity": seats}],
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    cs = api.create_checkout_session(params, key=f"seats:{tenant_id}:{seats}:{now.date().isoformat()}")
    return CheckoutStarted(session_id=cs["id"], url=cs.get("url") or "")
