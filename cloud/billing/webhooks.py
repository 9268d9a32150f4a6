"""Stripe webhooks: verify (stripe's own scheme), then apply each event once, in the right order.

Verification (`verify`) is `stripe.Webhook.construct_event`: the `Stripe-Signature` header's
`v1` HMAC-SHA256 over `"{t}.{payload}"` with the endpoint secret, and `t` no older than the
tolerance (300 s). We also refuse a `t` more than the tolerance in the *future* (the library
accepts it): a clock that far ahead is not Stripe's.

Application (`apply_event`) is a pure function of (database state, event):

1. The event id is inserted into `billing_event` first; an id already there is a replay and
   changes nothing (the caller's transaction makes the insert and the effect one unit).
2. Each billing row remembers the `created` of the event that last set its state. An event older
   than that is recorded as `stale` and applied to nothing: Stripe does not deliver in order.
   Ties (same second) are applied: the later arrival wins.
3. Object state decides, not only the type: `checkout.session.completed` with `payment_status`
   other than `paid` (async payment methods) leaves the campaign pending; a subscription event
   maps the subscription's `status`.

Campaign rules: active only when paid; a failed payment pauses with a reason naming the invoice;
a canceled subscription pauses too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import stripe
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from cloud.billing.exceptions import WebhookRejectedError
from cloud.billing.models import (
    BillingEvent,
    CampaignBilling,
    EventOutcome,
    PaymentState,
    SeatSubscription,
)
from cloud.billing.ports import CampaignSwitch

HANDLED = frozenset(
    {
        "checkout.session.completed",
        "invoice.paid",
        "invoice.payment_failed",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    }
)

_SUB_PAID = {"active", "trialing"}
_SUB_FAILED = {"past_due", "unpaid", "incomplete", "paused"}
_SUB_ENDED = {"canceled", "incomplete_expired"}


def verify(
    payload: bytes, signature: str | None, *, secret: str, tolerance_s: int, now: float
) -> dict[str, Any]:
    """The event as a dict, or WebhookRejectedError. Nothing is written here."""
    if not secret:
        raise WebhookRejectedError("no webhook secret configured")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret, tolerance=tolerance_s)
    except stripe.SignatureVerificationError as e:
        raise WebhookRejectedError(str(e).split(". ")[0]) from e
    except ValueError as e:  # body is not JSON
        raise WebhookRejectedError(f"invalid payload: {e}") from e
    # construct_event checked the signature over this exact t, so the header is well formed.
    t = int(dict(p.split("=", 1) for p in (signature or "").split(",") if "=" in p)["t"])
    if t > now + tolerance_s:
        raise WebhookRejectedError(f"timestamp {t} is in the future beyond the tolerance")
    body: dict[str, Any] = event.to_dict(recursive=True)
    if not isinstance(body.get("id"), str) or not isinstance(body.get("created"), int):
        raise WebhookRejectedError("event without id or created")
    return body


def _metadata(obj: dict[str, Any]) -> dict[str, str]:
    """Our metadata on a session/subscription, or on an invoice through its subscription."""
    if obj.get("metadata"):
        return dict(obj["metadata"])
    parent = (obj.get("parent") or {}).get("subscription_details") or obj.get("subscription_details") or {}
    return dict(parent.get("metadata") or {})


def _subscription_id(obj: dict[str, Any]) -> str | None:
    sub = obj.get("subscription") or ((obj.get("parent") or {}).get("subscription_details") or {}).get(
        "subscription"
    )
    if isinstance(sub, dict):
        return sub.get("id")
    return sub


class _Applier:
    def __init__(self, session: Session, switch: CampaignSwitch, event: dict[str, Any], now: datetime):
        self.session = session
        self.switch = switch
        self.event = event
        self.created: int = event["created"]
        self.obj: dict[str, Any] = event["data"]["object"]
        self.now = now

    def campaign_row(self) -> CampaignBilling | None:
        meta = _metadata(self.obj)
        row = None
        if meta.get("campaign_id"):
            row = self.session.get(CampaignBilling, meta["campaign_id"])
            if row is None:  # an event for a checkout we did not record (another environment?)
                row = CampaignBilling(
                    campaign_id=meta["campaign_id"],
                    advertiser_id=meta.get("advertiser_id", ""),
                    package="",
                    updated_at=self.now,
                )
        else:
            sub = (
                self.obj.get("id") if self.obj.get("object") == "subscription" else _subscription_id(self.obj)
            )
            if sub:
                row = self.session.exec(
                    select(CampaignBilling).where(CampaignBilling.subscription_id == sub)
                ).first()
        return row

    def set_campaign(self, row: CampaignBilling, state: PaymentState, reason: str | None) -> EventOutcome:
        if row.state_at is not None and self.created < row.state_at:
            return EventOutcome.STALE
        was_active = row.active
        row.payment_state = state
        row.reason = reason
        row.state_at = self.created
        row.updated_at = self.now
        self.session.add(row)
        self.session.flush()
        if row.active != was_active or not row.active:
            self.switch.set_active(
                self.session, campaign_id=row.campaign_id, active=row.active, reason=reason, at=self.now
            )
        return EventOutcome.APPLIED

    def fill_ids(self, row: CampaignBilling) -> None:
        if self.obj.get("customer") and not row.customer_id:
            c = self.obj["customer"]
            row.customer_id = c if isinstance(c, str) else c.get("id")
        sub = self.obj.get("id") if self.obj.get("object") == "subscription" else _subscription_id(self.obj)
        if sub and not row.subscription_id:
            row.subscription_id = sub

    # -- per event type ------------------------------------------------------------------------
    def checkout_completed(self) -> tuple[EventOutcome, str]:
        meta = _metadata(self.obj)
        if meta.get("kind") == "seats":
            return EventOutcome.IGNORED, "seats follow customer.subscription.* events"
        row = self.campaign_row()
        if row is None:
            return EventOutcome.UNMATCHED, "no campaign_id in metadata"
        self.fill_ids(row)
        if self.obj.get("payment_status") not in {"paid", "no_payment_required"}:
            self.session.add(row)
            return EventOutcome.IGNORED, f"payment_status {self.obj.get('payment_status')}: still pending"
        return self.set_campaign(row, PaymentState.PAID, None), "paid by checkout"

    def invoice(self, paid: bool) -> tuple[EventOutcome, str]:
        if _metadata(self.obj).get("kind") == "seats":
            return EventOutcome.IGNORED, "seat invoices follow customer.subscription.* events"
        row = self.campaign_row()
        if row is None:
            return EventOutcome.UNMATCHED, f"invoice {self.obj.get('id')} names no campaign"
        self.fill_ids(row)
        if paid:
            if self.obj.get("status") not in (None, "paid"):
                return EventOutcome.IGNORED, f"invoice status {self.obj.get('status')}"
            return self.set_campaign(row, PaymentState.PAID, None), "invoice paid"
        error = (self.obj.get("last_finalization_error") or {}).get("message") or "payment failed"
        attempt = self.obj.get("attempt_count")
        reason = f"payment failed: invoice {self.obj.get('id')}" + (
            f" (attempt {attempt})" if attempt else ""
        )
        reason += f": {error}"
        return self.set_campaign(row, PaymentState.FAILED, reason[:512]), reason

    def subscription(self, deleted: bool) -> tuple[EventOutcome, str]:
        status = "canceled" if deleted else str(self.obj.get("status"))
        meta = _metadata(self.obj)
        if meta.get("kind") == "seats":
            return self.seats(status)
        row = self.campaign_row()
        if row is None:
            return EventOutcome.UNMATCHED, f"subscription {self.obj.get('id')} names no campaign"
        self.fill_ids(row)
        if status in _SUB_PAID:
            return self.set_campaign(row, PaymentState.PAID, None), f"subscription {status}"
        if status in _SUB_FAILED:
            reason = f"subscription {self.obj.get('id')} is {status}"
            return self.set_campaign(row, PaymentState.FAILED, reason), reason
        if status in _SUB_ENDED:
            reason = f"subscription {self.obj.get('id')} {status}"
            return self.set_campaign(row, PaymentState.CANCELED, reason), reason
        return EventOutcome.IGNORED, f"subscription status {status}"

    def seats(self, status: str) -> tuple[EventOutcome, str]:
        sub_id = str(self.obj["id"])
        row = self.session.get(SeatSubscription, sub_id)
        if row is not None and self.created < row.state_at:
            return EventOutcome.STALE, f"older than the state of {sub_id}"
        items = (self.obj.get("items") or {}).get("data") or []
        seats = sum(int(i.get("quantity") or 0) for i in items)
        customer = self.obj.get("customer")
        if row is None:
            row = SeatSubscription(
                subscription_id=sub_id,
                tenant_id=_metadata(self.obj).get("tenant_id", ""),
                status=status,
                state_at=self.created,
                updated_at=self.now,
            )
        row.customer_id = customer if isinstance(customer, str) else row.customer_id
        row.status = status
        row.seats = 0 if status in _SUB_ENDED else seats
        row.state_at = self.created
        row.updated_at = self.now
        self.session.add(row)
        return EventOutcome.APPLIED, f"seats {row.seats}, status {status}"


def apply_event(
    session: Session, event: dict[str, Any], *, switch: CampaignSwitch, now: datetime
) -> tuple[EventOutcome | None, str]:
    """Apply one verified event inside the caller's transaction; (outcome, detail).

    Outcome None means the event id was seen before: nothing was changed, and the caller should
    still answer 200 so Stripe stops retrying.
    """
    if session.get(BillingEvent, event["id"]) is not None:
        return None, "duplicate event id"
    record = BillingEvent(
        id=event["id"], type=str(event.get("type")), created=event["created"], outcome="", received_at=now
    )
    session.add(record)
    try:
        session.flush()  # two replicas racing on the same event: the primary key decides
    except IntegrityError:
        session.rollback()
        return None, "duplicate event id"
    applier = _Applier(session, switch, event, now)
    match event.get("type"):
        case "checkout.session.completed":
            outcome, detail = applier.checkout_completed()
        case "invoice.paid":
            outcome, detail = applier.invoice(paid=True)
        case "invoice.payment_failed":
            outcome, detail = applier.invoice(paid=False)
        case "customer.subscription.updated":
            outcome, detail = applier.subscription(deleted=False)
        case "customer.subscription.deleted":
            outcome, detail = applier.subscription(deleted=True)
        case other:
            outcome, detail = EventOutcome.IGNORED, f"type {other} is not handled"
    if outcome == EventOutcome.STALE:
        detail = "older than the current state (out of order)"
    record.outcome = outcome
    record.detail = detail[:512]
    session.add(record)
    session.flush()
    return outcome, detail
