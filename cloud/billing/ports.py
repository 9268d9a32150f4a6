"""What billing needs from the rest of the cloud, as narrow interfaces passed in.

* `DeliveredImpressions`: delivered impressions per campaign per UTC day (cloud/analytics, persisted
  rollups on the `campaigns` branch).
* `CampaignSwitch`: turns a campaign on or off with a reason ops can read (the campaign's own
  state, `cloud.campaigns.state`), and says on which UTC days it was on. Billing calls `set_active`
  inside the webhook's transaction and bills usage only for `active_days`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Protocol

from sqlmodel import Session


class DeliveredImpressions(Protocol):
    def daily_impressions(
        self, session: Session, *, campaign_id: str, start: date, end: date
    ) -> Mapping[date, int]:
        """Impressions delivered per UTC day in [start, end), days without any left out or 0."""
        ...


class CampaignSwitch(Protocol):
    def set_active(
        self, session: Session, *, campaign_id: str, active: bool, reason: str | None, at: datetime
    ) -> None: ...

    def active_days(self, session: Session, *, campaign_id: str, start: date, end: date) -> set[date]:
        """UTC days in [start, end) on which the campaign was active at some instant."""
        ...
