"""Audience analytics core: pure functions and small value types over plain rows.

No database, MQTT or FastAPI here. The ingest calls `Rollup.absorb(batch)` once per telemetry
batch; the API calls `Rollup.report(campaign_id, by=..., tz=..., start_ms=..., end_ms=...)`.
Definitions live in docs/metrics.md.
"""

from cloud.analytics.campaigns import (
    AdSpot,
    Attribution,
    Campaign,
    CampaignAsset,
    DeviceMount,
    ImpressionRule,
)
from cloud.analytics.exceptions import (
    AnalyticsError,
    CampaignConfigError,
    TimeZoneError,
    UnknownCampaignError,
    ZoneError,
)
from cloud.analytics.exposure import Zone, parse_zone, zone_to_geojson
from cloud.analytics.grains import Grain, day_bounds_ms
from cloud.analytics.observations import FLAG_RANDOMIZED, KIND_BLE, KIND_WIFI, Observation
from cloud.analytics.rollup import AbsorbStats, QueryError, RandomizedMetrics, Report, ReportRow, Rollup

__all__ = [
    "FLAG_RANDOMIZED",
    "KIND_BLE",
    "KIND_WIFI",
    "AbsorbStats",
    "AdSpot",
    "AnalyticsError",
    "Attribution",
    "Campaign",
    "CampaignAsset",
    "CampaignConfigError",
    "DeviceMount",
    "Grain",
    "ImpressionRule",
    "Observation",
    "QueryError",
    "RandomizedMetrics",
    "Report",
    "ReportRow",
    "Rollup",
    "TimeZoneError",
    "UnknownCampaignError",
    "Zone",
    "ZoneError",
    "day_bounds_ms",
    "parse_zone",
    "zone_to_geojson",
]
