"""What billing needs from the rest of the cloud, as narrow interfaces passed in.

* `DeliveredImpressions`: delivered impressions per campaign per UTC day (cloud/analytics, persisted
  rollups on the `campaigns` branch).
* `CampaignSwitch`: turns a campaign on or off with a reason ops can read (the campaign's own
  active/paused state). Billing calls it inside the webhook's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Protocol

from sqlmodel import Session


class DeliveredImpressions(Protocol):
    def daily_impressions(
        self, session: Session, *, campaign_id: str, start: date, end: date
    ) -> Mapping[date, int]:
        """Impressions delivered per UTC day in [start, end), days without any left out or 0."""
        ...


class CampaignSwitch(Protocol):
    def set_active(self, session: Session, *, campaign_id: str, active: bool, reason: str | None) -> None: ...


class BillingOnlySwitch:
    """The switch used until the campaign tables carry a state: billing's own row is the record
    (`CampaignBilling.active`, `reason`), so this does nothing more."""

    def set_active(self, session: Session, *, campaign_id: str, active: bool, reason: str | None) -> None:
        return None
