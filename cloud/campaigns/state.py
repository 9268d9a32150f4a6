"""A campaign's state, driven by its payment (billing calls `set_paid` inside the webhook's transaction).

    draft --paid--> active --payment failed / subscription ended--> paused --paid--> active

A failure before the first payment leaves a draft a draft (it never ran), with the reason shown.
Every change is kept (`campaign_state_change`), so the UTC days a campaign was active are known:
`active_days` is the rule billing uses (a day counts if the campaign was active at any instant of it).

Impressions are counted regardless of state: rollups describe what the sensors saw, so the
advertiser's report shows delivery while paused too. Billing reports usage only for active days.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, col, select

from cloud.campaigns.models import Campaign, CampaignState, CampaignStateChange


def next_state(current: CampaignState, *, paid: bool) -> CampaignState:
    if paid:
        return CampaignState.ACTIVE
    return CampaignState.DRAFT if current == CampaignState.DRAFT else CampaignState.PAUSED


def active_days(changes: Iterable[tuple[datetime, CampaignState]], *, start: date, end: date) -> set[date]:
    """UTC days in [start, end) on which the campaign was active at some instant; `changes` in order."""
    ordered = sorted(changes, key=lambda c: c[0])
    days: set[date] = set()
    day = start
    while day < end:
        lo = datetime.combine(day, time(0), UTC)
        hi = lo + timedelta(days=1)
        before = [s for at, s in ordered if at <= lo]
        during = [s for at, s in ordered if lo < at < hi]
        if CampaignState.ACTIVE in (before[-1:] + during):
            days.add(day)
        day += timedelta(days=1)
    return days


def set_paid(session: Session, *, campaign_id: str, paid: bool, reason: str | None, at: datetime) -> None:
    """Move the campaign to the state its payment implies; a campaign we do not have is left alone."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return
    state = next_state(CampaignState(campaign.state), paid=paid)
    reason = None if paid else reason
    if state == campaign.state and reason == campaign.state_reason:
        return
    if state != campaign.state:
        session.add(CampaignStateChange(campaign_id=campaign_id, state=state, reason=reason, at=at))
    campaign.state = state
    campaign.state_reason = reason
    session.add(campaign)
    session.flush()


def state_changes(session: Session, *, campaign_id: str) -> list[tuple[datetime, CampaignState]]:
    rows = session.exec(
        select(CampaignStateChange)
        .where(CampaignStateChange.campaign_id == campaign_id)
        .order_by(col(CampaignStateChange.at), col(CampaignStateChange.id))
    )
    return [(r.at, CampaignState(r.state)) for r in rows]
