"""Billing routes: Stripe's webhook endpoint, and what ops read about a campaign's payment."""

from __future__ import annotations

import time

from fastapi import APIRouter, Header, Request
from sqlmodel import select

from cloud.api.deps import ReadAccess, SessionDep
from cloud.billing.config import BillingSettings
from cloud.billing.exceptions import BillingNotFoundError
from cloud.billing.models import CampaignBilling, CampaignBillingPublic, SeatSubscription
from cloud.billing.ports import CampaignSwitch
from cloud.billing.sources import CampaignTable
from cloud.billing.webhooks import apply_event, verify
from cloud.core.types import utcnow

router = APIRouter(prefix="/billing", tags=["billing"])


def _settings(request: Request) -> BillingSettings:
    return getattr(request.app.state, "billing", None) or BillingSettings()


def _switch(request: Request) -> CampaignSwitch:
    return getattr(request.app.state, "campaign_switch", None) or CampaignTable()


@router.post("/stripe/webhook")
async def stripe_webhook(
    request: Request, session: SessionDep, stripe_signature: str | None = Header(default=None)
) -> dict[str, str]:
    """Stripe's webhook: 400 (and nothing changed) unless signed with our secret and fresh."""
    payload = await request.body()
    settings = _settings(request)
    event = verify(
        payload,
        stripe_signature,
        secret=settings.stripe_webhook_secret,
        tolerance_s=settings.stripe_webhook_tolerance_s,
        now=time.time(),
    )
    outcome, detail = apply_event(session, event, switch=_switch(request), now=utcnow())
    session.commit()
    return {"id": event["id"], "outcome": outcome or "duplicate", "detail": detail}


def _public(row: CampaignBilling) -> CampaignBillingPublic:
    return CampaignBillingPublic.model_validate(row, update={"active": row.active})


@router.get("/campaigns", response_model=list[CampaignBillingPublic])
def list_campaign_billing(
    session: SessionDep, _: ReadAccess, state: str | None = None
) -> list[CampaignBillingPublic]:
    """Every campaign's payment state; `?state=failed` lists the paused ones with their reasons."""
    stmt = select(CampaignBilling).order_by(CampaignBilling.campaign_id)
    if state:
        stmt = stmt.where(CampaignBilling.payment_state == state)
    return [_public(r) for r in session.exec(stmt)]


@router.get("/campaigns/{campaign_id}", response_model=CampaignBillingPublic)
def campaign_billing(campaign_id: str, session: SessionDep, _: ReadAccess) -> CampaignBillingPublic:
    row = session.get(CampaignBilling, campaign_id)
    if row is None:
        raise BillingNotFoundError("campaign", campaign_id)
    return _public(row)


@router.get("/seats/{tenant_id}")
def seats(tenant_id: str, session: SessionDep, _: ReadAccess) -> list[dict[str, object]]:
    rows = session.exec(select(SeatSubscription).where(SeatSubscription.tenant_id == tenant_id))
    return [r.model_dump(mode="json") for r in rows]
