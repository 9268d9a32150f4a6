"""Delivered impressions -> Stripe meter events, one per (campaign, UTC day), never twice.

The ledger (`billing_usage`) is written and committed *before* the meter event is sent, then
marked `sent` after Stripe acknowledged it. A crash between the two leaves a `pending` row; the
next run sends the same event again with the same `identifier` and idempotency key, which Stripe
applies once. A `sent` row is never sent again. So a re-run reports nothing twice, and a crash
loses nothing.

Only settled days are reported: a UTC day once `settle_s` has passed since its end (late
telemetry lands first). Stripe accepts meter events up to 35 days old; the window defaults to 30.
Only days on which the campaign was active are reported (`CampaignSwitch.active_days`): a paused
or unpaid campaign's impressions are still counted by analytics, but not billed.
Known limit: impressions that arrive for a day after it was reported are not billed (a meter
event adjustment would be the tool); `UsageReport.impressions` keeps what was billed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from cloud.billing.models import CampaignBilling, UsageReport, UsageStatus
from cloud.billing.ports import CampaignSwitch, DeliveredImpressions
from cloud.billing.stripe_api import StripeApi


@dataclass(slots=True)
class UsageRun:
    sent: list[tuple[str, date, int]] = field(default_factory=list)  # (campaign, day, impressions)
    already_reported: int = 0
    no_customer: list[str] = field(default_factory=list)
    not_active: list[tuple[str, date, int]] = field(default_factory=list)  # delivered, not billed


def identifier(campaign_id: str, day: date) -> str:
    return f"mob-imp-{campaign_id}-{day.isoformat()}"


def settled_end(now: datetime, settle_s: int) -> date:
    """The first UTC day not yet settled: every day before it may be reported."""
    return (now.astimezone(UTC) - timedelta(seconds=settle_s)).date()


def report_usage(
    engine: Engine,
    api: StripeApi,
    source: DeliveredImpressions,
    *,
    campaigns: CampaignSwitch,
    event_name: str,
    now: datetime,
    settle_s: int = 6 * 3600,
    window_days: int = 30,
    campaign_ids: list[str] | None = None,
) -> UsageRun:
    run = UsageRun()
    end = settled_end(now, settle_s)
    start = end - timedelta(days=window_days)
    with Session(engine) as s:
        stmt = select(CampaignBilling).order_by(col(CampaignBilling.campaign_id))
        if campaign_ids is not None:
            stmt = stmt.where(col(CampaignBilling.campaign_id).in_(campaign_ids))
        billed = [(c.campaign_id, c.customer_id) for c in s.exec(stmt)]
    for campaign_id, customer_id in billed:
        if not customer_id:
            run.no_customer.append(campaign_id)
            continue
        with Session(engine) as s:
            delivered = source.daily_impressions(s, campaign_id=campaign_id, start=start, end=end)
            active = campaigns.active_days(s, campaign_id=campaign_id, start=start, end=end)
        for day in sorted(delivered):
            n = int(delivered[day])
            if n <= 0 or not start <= day < end:
                continue
            if day not in active:
                run.not_active.append((campaign_id, day, n))
                continue
            with Session(engine) as s:
                row = s.get(UsageReport, (campaign_id, day.isoformat()))
                if row is not None and row.status == UsageStatus.SENT:
                    run.already_reported += 1
                    continue
                if row is None:  # record first, send second (see the module docstring)
                    row = UsageReport(
                        campaign_id=campaign_id,
                        day=day.isoformat(),
                        impressions=n,
                        identifier=identifier(campaign_id, day),
                        customer_id=customer_id,
                        created_at=now,
                    )
                    s.add(row)
                    s.commit()
                    s.refresh(row)
                # A pending row is resent exactly as recorded (value, identifier, timestamp).
                api.create_meter_event(
                    event_name=event_name,
                    customer_id=row.customer_id,
                    value=row.impressions,
                    identifier=row.identifier,
                    timestamp=int(datetime.combine(day, time(23, 59, 59), UTC).timestamp()),
                )
                row.status = UsageStatus.SENT
                row.sent_at = now
                s.add(row)
                s.commit()
                run.sent.append((campaign_id, day, row.impressions))
    return run
