"""Stripe billing against a local stand-in of Stripe's API and webhooks signed as Stripe signs them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select
from sqlmodel import Session
from stripe import WebhookSignature

from cloud.analytics.sql.partners import delivered_impressions_by_day
from cloud.analytics.sql.tables import impression
from cloud.api.app import create_app
from cloud.auth.models import Scope, TenantScope
from cloud.auth.service import create_tenant_key, create_token
from cloud.billing.catalog import (
    CampaignPackage,
    Catalog,
    start_campaign_checkout,
    start_seat_checkout,
    sync_catalog,
)
from cloud.billing.config import BillingSettings
from cloud.billing.exceptions import StripeApiError
from cloud.billing.models import BillingEvent, CampaignBilling, SeatSubscription, UsageReport
from cloud.billing.sources import AnalyticsImpressions, CampaignTable
from cloud.billing.stripe_api import StripeApi
from cloud.billing.usage import report_usage
from cloud.campaigns.models import Campaign, CampaignStateChange, Tenant
from cloud.campaigns.state import set_paid
from cloud.core.config import Settings
from cloud.core.types import utcnow
from tests.integrations.stripe_server import StripeStandIn

SECRET = "whsec_test_0123456789"
CATALOG = Catalog(packages=(CampaignPackage("city-month", "City, one month", 50_000, "0.4"),))
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _world(engine: Engine, *campaigns: str) -> None:
    with Session(engine) as s:
        s.add(Tenant(id="acme", name="ACME", kind="advertiser", created_at=NOW))
        s.add(Tenant(id="ops-vienna", name="Vienna Media", kind="media_operator", created_at=NOW))
        s.flush()
        for c in campaigns:
            s.add(Campaign(id=c, name=c, advertiser_id="acme", created_at=NOW))
        s.commit()


@pytest.fixture
def api(engine: Engine) -> Iterator[TestClient]:
    settings = BillingSettings(stripe_webhook_secret=SECRET)
    with TestClient(create_app(engine, Settings(api_host="0.0.0.0"), billing_settings=settings)) as c:
        yield c


@pytest.fixture
def read_token(engine: Engine) -> str:
    with Session(engine) as s:
        _, token = create_token(s, name="ops", scope=Scope.READ, now=utcnow())
        s.commit()
    return token


_seq = iter(range(1, 1_000_000))


def event(type_: str, obj: dict[str, Any], *, created: int, id_: str | None = None) -> bytes:
    body = {
        "id": id_ or f"evt_{next(_seq):08d}",
        "object": "event",
        "api_version": "2025-01-27.acacia",
        "created": created,
        "livemode": False,
        "pending_webhooks": 1,
        "type": type_,
        "data": {"object": obj},
    }
    return json.dumps(body).encode()


def post(
    api: TestClient, payload: bytes, *, secret: str = SECRET, t: int | None = None, header: str | None = None
):
    sig = header or WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp=t)
    return api.post("/billing/stripe/webhook", content=payload, headers={"Stripe-Signature": sig})


def checkout_completed(
    campaign: str, *, paid: bool = True, sub: str = "sub_1", cus: str = "cus_1"
) -> dict[str, Any]:
    return {
        "id": "cs_test_x",
        "object": "checkout.session",
        "mode": "subscription",
        "client_reference_id": campaign,
        "customer": cus,
        "subscription": sub,
        "payment_status": "paid" if paid else "unpaid",
        "metadata": {"kind": "campaign", "campaign_id": campaign, "advertiser_id": "acme"},
    }


def invoice(sub: str, *, paid: bool, inv: str = "in_1", campaign: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": inv,
        "object": "invoice",
        "customer": "cus_1",
        "status": "paid" if paid else "open",
        "attempt_count": 1,
        "parent": {
            "type": "subscription_details",
            "subscription_details": {
                "subscription": sub,
                "metadata": {"kind": "campaign", "campaign_id": campaign} if campaign else {},
            },
        },
    }
    if not paid:
        obj["last_finalization_error"] = {"message": "Your card was declined."}
    return obj


def _billing(engine: Engine, campaign: str) -> CampaignBilling | None:
    with Session(engine) as s:
        return s.get(CampaignBilling, campaign)


def _seen(api: TestClient, engine: Engine, campaign: str) -> tuple[str, str | None]:
    """(state, state_reason) as the advertiser reads it on /v1 and ops on /campaigns (both must agree)."""
    with Session(engine) as s:
        _, key = create_tenant_key(
            s, tenant_id="acme", name="t", scopes={TenantScope.CAMPAIGNS_READ}, now=utcnow()
        )
        _, ops = create_token(s, name="ops", scope=Scope.READ, now=utcnow())
        s.commit()
    mine = api.get(f"/v1/campaigns/{campaign}", headers={"Authorization": f"Bearer {key}"})
    theirs = api.get(f"/campaigns/{campaign}", headers={"Authorization": f"Bearer {ops}"})
    assert mine.status_code == theirs.status_code == 200, (mine.text, theirs.text)
    seen = (mine.json()["state"], mine.json()["state_reason"])
    assert (theirs.json()["state"], theirs.json()["state_reason"]) == seen
    return seen


def _changes(engine: Engine) -> int:
    with Session(engine) as s:
        return s.execute(select(func.count()).select_from(CampaignStateChange)).scalar_one()


def _events(engine: Engine) -> int:
    with Session(engine) as s:
        return s.execute(select(func.count()).select_from(BillingEvent)).scalar_one()


def test_catalog_and_checkout_go_to_stripe_once(
    engine: Engine, stripe_api: StripeApi, stripe_standin: tuple[StripeStandIn, str]
) -> None:
    state, _ = stripe_standin
    _world(engine, "spring")
    with Session(engine) as s:
        prices = sync_catalog(s, stripe_api, CATALOG)
        s.commit()
    assert set(prices) == {
        "campaign:city-month:flat",
        "campaign:city-month:impressions",
        "seat:operator-seat",
    }
    metered = next(p for p in state.prices if p["lookup_key"] == "campaign:city-month:impressions")
    assert metered["recurring"]["usage_type"] == "metered"
    assert metered["recurring"]["meter"].startswith("mtr_")
    assert all(r.idempotency_key for r in state.requests if r.method == "POST")
    before = len(state.requests)
    with Session(engine) as s:
        assert sync_catalog(s, stripe_api, CATALOG) == prices  # cached: Stripe is not asked again
        started = start_campaign_checkout(
            s,
            stripe_api,
            CATALOG,
            campaign_id="spring",
            advertiser_id="acme",
            package="city-month",
            success_url="https://app.test/ok",
            cancel_url="https://app.test/cancel",
            now=NOW,
        )
        seats = start_seat_checkout(
            s, stripe_api, CATALOG, tenant_id="ops-vienna", seats=3, success_url="u", cancel_url="u", now=NOW
        )
        s.commit()
    posts = state.requests[before:]
    assert [r.path for r in posts] == ["/v1/checkout/sessions", "/v1/checkout/sessions"]
    cs = posts[0].params
    assert cs["mode"] == "subscription"
    assert cs["client_reference_id"] == "spring"
    assert cs["subscription_data"]["metadata"] == {
        "kind": "campaign",
        "campaign_id": "spring",
        "advertiser_id": "acme",
    }
    assert cs["line_items"]["0"] == {"price": prices["campaign:city-month:flat"], "quantity": "1"}
    assert posts[1].params["line_items"]["0"]["quantity"] == "3"
    assert started.url.endswith(started.session_id)
    assert seats.session_id != started.session_id
    row = _billing(engine, "spring")
    assert row is not None
    assert row.payment_state == "pending"
    assert not row.active


def test_a_paid_checkout_activates_the_campaign(
    engine: Engine, api: TestClient, stripe_api: StripeApi
) -> None:
    _world(engine, "spring", "autumn")
    with Session(engine) as s:
        for c in ("spring", "autumn"):
            start_campaign_checkout(
                s,
                stripe_api,
                CATALOG,
                campaign_id=c,
                advertiser_id="acme",
                package="city-month",
                success_url="u",
                cancel_url="u",
                now=NOW,
            )
        s.commit()
    now = int(time.time())
    assert _seen(api, engine, "spring") == ("draft", None)
    # An async payment method: the session completes unpaid, the campaign stays off.
    r = post(
        api,
        event(
            "checkout.session.completed", checkout_completed("autumn", paid=False, sub="sub_2"), created=now
        ),
    )
    assert r.status_code == 200, r.text
    assert not _billing(engine, "autumn").active  # type: ignore[union-attr]
    assert _seen(api, engine, "autumn") == ("draft", None)
    r = post(api, event("checkout.session.completed", checkout_completed("spring"), created=now))
    assert r.status_code == 200
    assert r.json()["outcome"] == "applied"
    assert _seen(api, engine, "spring") == ("active", None)
    assert _seen(api, engine, "autumn") == ("draft", None)
    row = _billing(engine, "spring")
    assert row is not None
    assert row.active
    assert row.customer_id == "cus_1"
    assert row.subscription_id == "sub_1"


def test_forged_stale_or_replayed_webhooks_are_refused_and_change_nothing(
    engine: Engine, api: TestClient, stripe_api: StripeApi
) -> None:
    _world(engine, "spring")
    with Session(engine) as s:
        start_campaign_checkout(
            s,
            stripe_api,
            CATALOG,
            campaign_id="spring",
            advertiser_id="acme",
            package="city-month",
            success_url="u",
            cancel_url="u",
            now=NOW,
        )
        s.commit()
    now = int(time.time())
    paid = event("checkout.session.completed", checkout_completed("spring"), created=now)
    # Forged: signed with another secret; no signature; a body changed after signing.
    assert post(api, paid, secret="whsec_attacker").status_code == 400
    assert api.post("/billing/stripe/webhook", content=paid).status_code == 400
    good = WebhookSignature.generate_signature_header(paid.decode(), SECRET)
    tampered = paid.replace(b'"paid"', b'"paid" ')
    assert post(api, tampered, header=good).status_code == 400
    # Stale: correctly signed, but the signature's timestamp is older than the tolerance (a replay).
    r = post(api, paid, t=now - 301)
    assert r.status_code == 400
    assert "tolerance" in r.json()["detail"]
    assert post(api, paid, t=now + 3600).status_code == 400  # from the future
    assert _events(engine) == 0
    assert not _billing(engine, "spring").active
    assert _seen(api, engine, "spring") == ("draft", None)
    assert _changes(engine) == 0
    # The genuine one applies; the same request replayed (same id) changes nothing.
    assert post(api, paid, header=good).json()["outcome"] == "applied"
    assert _seen(api, engine, "spring") == ("active", None)
    failed = event("invoice.payment_failed", invoice("sub_1", paid=False), created=now + 10)
    assert post(api, failed).json()["outcome"] == "applied"
    assert _billing(engine, "spring").payment_state == "failed"  # type: ignore[union-attr]
    paused = _seen(api, engine, "spring")
    assert paused == ("paused", "payment failed: invoice in_1 (attempt 1): Your card was declined.")
    replay = post(api, paid, header=good)
    assert replay.status_code == 200
    assert replay.json()["outcome"] == "duplicate"
    assert _billing(engine, "spring").payment_state == "failed"  # type: ignore[union-attr]
    # Replayed, and forged/stale copies of a "paid" after the failure: the campaign stays paused.
    assert post(api, paid, secret="whsec_attacker").status_code == 400
    assert post(api, paid, t=now - 301).status_code == 400
    assert _seen(api, engine, "spring") == paused
    assert _events(engine) == 2
    assert _changes(engine) == 2  # draft -> active -> paused, nothing more


def test_failed_payment_pauses_with_a_reason_and_out_of_order_events_do_not_undo_newer_ones(
    engine: Engine, api: TestClient, read_token: str
) -> None:
    _world(engine, "spring")
    t = int(time.time()) - 100
    # invoice.paid arrives before checkout.session.completed: metadata finds the campaign anyway.
    assert (
        post(
            api, event("invoice.paid", invoice("sub_1", paid=True, campaign="spring"), created=t + 2)
        ).json()["outcome"]
        == "applied"
    )
    assert _billing(engine, "spring").active  # type: ignore[union-attr]
    # The older checkout event, delivered late, is recorded as stale and changes nothing.
    assert (
        post(api, event("checkout.session.completed", checkout_completed("spring"), created=t)).json()[
            "outcome"
        ]
        == "stale"
    )
    fail = invoice("sub_1", paid=False, inv="in_2")
    assert post(api, event("invoice.payment_failed", fail, created=t + 30)).json()["outcome"] == "applied"
    row = _billing(engine, "spring")
    assert row is not None
    assert not row.active
    assert row.payment_state == "failed"
    assert row.reason == "payment failed: invoice in_2 (attempt 1): Your card was declined."
    assert _seen(api, engine, "spring") == ("paused", row.reason)
    # An older "paid" arriving after the failure must not reactivate the campaign.
    late = post(api, event("invoice.paid", invoice("sub_1", paid=True, inv="in_1"), created=t + 20))
    assert late.json()["outcome"] == "stale"
    assert not _billing(engine, "spring").active
    assert _seen(api, engine, "spring") == ("paused", row.reason)
    # Ops see the paused campaign and why.
    shown = api.get(
        "/billing/campaigns?state=failed", headers={"Authorization": f"Bearer {read_token}"}
    ).json()
    assert [(c["campaign_id"], c["active"], c["reason"]) for c in shown] == [("spring", False, row.reason)]
    # The retry succeeds: active again; then the subscription is deleted: paused, canceled.
    assert (
        post(api, event("invoice.paid", invoice("sub_1", paid=True, inv="in_2"), created=t + 60)).status_code
        == 200
    )
    assert _billing(engine, "spring").active  # type: ignore[union-attr]
    assert _seen(api, engine, "spring") == ("active", None)
    sub = {"id": "sub_1", "object": "subscription", "status": "canceled", "customer": "cus_1", "metadata": {}}
    assert (
        post(api, event("customer.subscription.deleted", sub, created=t + 90)).json()["outcome"] == "applied"
    )
    row = _billing(engine, "spring")
    assert row is not None
    assert row.payment_state == "canceled"
    assert not row.active
    assert _seen(api, engine, "spring") == ("paused", "subscription sub_1 canceled")


def test_seat_subscriptions_follow_subscription_events(engine: Engine, api: TestClient) -> None:
    t = int(time.time()) - 50
    sub = {
        "id": "sub_seats",
        "object": "subscription",
        "status": "active",
        "customer": "cus_op",
        "metadata": {"kind": "seats", "tenant_id": "ops-vienna"},
        "items": {"object": "list", "data": [{"id": "si_1", "quantity": 5}]},
    }
    post(api, event("customer.subscription.updated", sub, created=t + 10))
    stale = {**sub, "items": {"object": "list", "data": [{"id": "si_1", "quantity": 2}]}}
    assert post(api, event("customer.subscription.updated", stale, created=t)).json()["outcome"] == "stale"
    post(api, event("customer.subscription.updated", {**sub, "status": "past_due"}, created=t + 20))
    with Session(engine) as s:
        row = s.get(SeatSubscription, "sub_seats")
        assert row is not None
        assert (row.tenant_id, row.seats, row.status) == ("ops-vienna", 5, "past_due")


def _day_ms(d: date, hour: int = 0) -> int:
    return int(datetime(d.year, d.month, d.day, hour, tzinfo=UTC).timestamp() * 1000)


def test_usage_reported_equals_delivered_impressions_once(
    engine: Engine, stripe_api: StripeApi, stripe_standin: tuple[StripeStandIn, str]
) -> None:
    state, _ = stripe_standin
    _world(engine, "spring")
    today = NOW.date()
    days = [today - timedelta(days=3), today - timedelta(days=2), today - timedelta(days=1), today]
    rows = []
    for i, d in enumerate(days):
        for j in range(10 + i * 7):  # 10, 17, 24, 31 impressions (n = 1 or 2 each)
            rows.append(
                {
                    "campaign_id": "spring",
                    "asset_id": "truck-1",
                    "zone_id": "",
                    "hid": f"{i:02x}{j:014x}",
                    "at": _day_ms(d, j % 24) + j,
                    "grain": _day_ms(d, j % 24),
                    "n": 1 + (j % 2),
                    "randomized": j % 3 == 0,
                }
            )
    rows.append({**rows[0], "campaign_id": "other", "n": 99})  # another campaign's: never billed to spring
    with Session(engine) as s:
        s.execute(insert(impression), rows)
        s.add(
            CampaignBilling(
                campaign_id="spring",
                advertiser_id="acme",
                package="city-month",
                customer_id="cus_1",
                payment_state="paid",
                updated_at=NOW,
            )
        )
        # Active from before the window, paused the evening of day 0 until the morning of day 2.
        on, off, again = (datetime.combine(d, datetime.min.time(), UTC) for d in (days[0], days[0], days[2]))
        set_paid(s, campaign_id="spring", paid=True, reason=None, at=on - timedelta(hours=12))
        set_paid(s, campaign_id="spring", paid=False, reason="payment failed", at=off + timedelta(hours=18))
        set_paid(s, campaign_id="spring", paid=True, reason=None, at=again + timedelta(hours=9))
        s.commit()
    counted: dict[str, int] = {}  # by hand: non-randomized impressions per day
    for r in rows:
        if r["campaign_id"] == "spring" and not r["randomized"]:
            d = datetime.fromtimestamp(r["at"] / 1000, UTC).date().isoformat()
            counted[d] = counted.get(d, 0) + r["n"]
    with engine.connect() as conn:
        analytics = delivered_impressions_by_day(conn, "spring")
    assert {a.day.isoformat(): a.impressions for a in analytics} == counted
    # Today is not settled yet (6 h after midnight); day 1 was wholly paused: counted, not billed.
    settled = {a.day.isoformat(): round(a.total) for a in analytics if a.day not in (today, days[1])}
    assert len(settled) == 2
    usage = {"event_name": "mobilytics_impressions", "now": NOW, "campaigns": CampaignTable()}
    # Stripe fails the first meter event: the run stops with a pending ledger row, nothing lost.
    state.fail_next("/v1/billing/meter_events", 500)
    with pytest.raises(StripeApiError):
        report_usage(engine, stripe_api, AnalyticsImpressions(), **usage)
    with Session(engine) as s:
        assert [u.status for u in s.exec(select(UsageReport)).scalars()] == ["pending"]  # type: ignore[call-overload]
    run = report_usage(engine, stripe_api, AnalyticsImpressions(), **usage)
    again = report_usage(engine, stripe_api, AnalyticsImpressions(), **usage)
    assert len(run.sent) == 2
    assert [(c, d) for c, d, _ in run.not_active] == [("spring", days[1])]
    assert again.sent == []
    assert again.already_reported == 2
    sent = [r for r in state.posts("/v1/billing/meter_events") if not r.replayed]
    # What Stripe applied: one event per identifier (the failed one was retried with the same key).
    applied = {r.params["identifier"]: r for r in sent}
    assert len(applied) == 2
    assert all(r.idempotency_key == r.params["identifier"] for r in sent)
    reported = {
        ident.rsplit("-", 3)[-3] + "-" + "-".join(ident.rsplit("-", 3)[-2:]): int(
            r.params["payload"]["value"]
        )
        for ident, r in applied.items()
    }
    assert reported == settled
    assert all(r.params["payload"]["stripe_customer_id"] == "cus_1" for r in sent)
