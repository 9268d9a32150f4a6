"""Billing's ports implemented by the rest of the cloud.

`CampaignTable`: the `CampaignSwitch` over the campaign table (`cloud.campaigns.state`).

`AnalyticsImpressions`: `DeliveredImpressions` from analytics,
`cloud.analytics.sql.partners.delivered_impressions_by_day`.

The billable figure of a UTC day is analytics' `total`: counted impressions of non-randomized
devices plus the modelled impressions of randomized ones, crew and infrastructure excluded (the
same rollups the advertiser's report reads, so billing and the report agree by construction).
Stripe meter events carry whole numbers here: the day's total is rounded half to even.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time

from sqlmodel import Session

from cloud.analytics.sql.partners import delivered_impressions_by_day
from cloud.campaigns import state


def _ms(d: date) -> int:
    return int(datetime.combine(d, time(0), UTC).timestamp() * 1000)


class AnalyticsImpressions:
    def daily_impressions(
        self, session: Session, *, campaign_id: str, start: date, end: date
    ) -> Mapping[date, int]:
        rows = delivered_impressions_by_day(
            session.connection(), campaign_id, start_ms=_ms(start), end_ms=_ms(end)
        )
        return {r.day: round(r.total) for r in rows}


class CampaignTable:
    def set_active(
        self, session: Session, *, campaign_id: str, active: bool, reason: str | None, at: datetime
    ) -> None:
        state.set_paid(session, campaign_id=campaign_id, paid=active, reason=reason, at=at)

    def active_days(self, session: Session, *, campaign_id: str, start: date, end: date) -> set[date]:
        changes = state.state_changes(session, campaign_id=campaign_id)
        return state.active_days(changes, start=start, end=end)
