"""Errors of the analytics core.

The tree is shallow on purpose:

    AnalyticsError
    ├── ZoneError             a GeoJSON zone is malformed (carries the zone id and the JSON path)
    ├── TimeZoneError         an IANA zone is unknown or its offset does not fall on 15-minute grains
    ├── CampaignConfigError   a campaign parameter is out of range (carries campaign id and field)
    └── UnknownCampaignError  a query names a campaign the rollup has never been told about

The API layer turns these into HTTP answers at one seam; nothing here knows about HTTP.
"""

from __future__ import annotations


class AnalyticsError(Exception):
    """Base of every error the analytics core raises on purpose."""


class ZoneError(AnalyticsError):
    """A zone's GeoJSON cannot be used."""

    def __init__(self, *, zone_id: str, path: str, reason: str) -> None:
        self.zone_id = zone_id
        self.path = path
        self.reason = reason
        super().__init__(f"zone {zone_id!r}: {path}: {reason}")


class TimeZoneError(AnalyticsError):
    """A time zone is unknown, or has an offset that does not land on 15-minute grains."""

    def __init__(self, *, tz: str, reason: str) -> None:
        self.tz = tz
        self.reason = reason
        super().__init__(f"time zone {tz!r}: {reason}")


class CampaignConfigError(AnalyticsError):
    """A campaign parameter is out of its allowed range."""

    def __init__(self, *, campaign_id: str, field: str, reason: str) -> None:
        self.campaign_id = campaign_id
        self.field = field
        self.reason = reason
        super().__init__(f"campaign {campaign_id!r}: {field}: {reason}")


class UnknownCampaignError(AnalyticsError):
    """A query names a campaign that the rollup does not know."""

    def __init__(self, campaign_id: str) -> None:
        self.campaign_id = campaign_id
        super().__init__(f"unknown campaign {campaign_id!r}")
