"""Rollup tables (docs/metrics.md §3.1, as built). Times are UTC epoch ms; `grain` is the start of
the 15-minute UTC grain. Every row is keyed by hashed ids only.

| table | key | what |
| --- | --- | --- |
| analytics_active | asset, grain | the asset had a sighting (any RSSI): shifts for crew detection |
| analytics_presence | asset, grain, hid | who was there (any RSSI): crew detection |
| analytics_seen | campaign, grain, asset, zone, hid | seen at passerby floor; randomized: exposure span |
| analytics_session | campaign, asset, zone, hid, start | exposure sessions (5-min gap): dwell, track state |
| analytics_impression | campaign, asset, zone, hid, at | impressions by the campaign's rule, n at `at` |
| analytics_route | asset, minute | the asset's first GPS fix in each UTC minute (any sensor mounted on it) |

The ingest upserts them per flush (INSERT ... ON CONFLICT); reports read them, never `observation`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
)
from sqlmodel import SQLModel

_md = SQLModel.metadata


def _ids() -> list[Column]:  # type: ignore[type-arg]
    return [
        Column("campaign_id", String(64), nullable=False),
        Column("asset_id", String(64), nullable=False),
        Column("zone_id", String(64), nullable=False),
        Column("hid", String(16), nullable=False),
    ]


active = Table(
    "analytics_active",
    _md,
    Column("asset_id", String(64), nullable=False),
    Column("grain", BigInteger, nullable=False),
    PrimaryKeyConstraint("asset_id", "grain"),
)

presence = Table(
    "analytics_presence",
    _md,
    Column("asset_id", String(64), nullable=False),
    Column("grain", BigInteger, nullable=False),
    Column("hid", String(16), nullable=False),
    PrimaryKeyConstraint("asset_id", "grain", "hid"),
)

seen = Table(
    "analytics_seen",
    _md,
    *_ids(),
    Column("grain", BigInteger, nullable=False),
    Column("randomized", Boolean, nullable=False),
    # randomized addresses only: first/last exposure sighting in the grain and the RSSI at each
    Column("span_first", BigInteger, nullable=True),
    Column("span_last", BigInteger, nullable=True),
    Column("rssi_first", SmallInteger, nullable=True),
    Column("rssi_last", SmallInteger, nullable=True),
    PrimaryKeyConstraint("campaign_id", "grain", "asset_id", "zone_id", "hid"),
)

session = Table(
    "analytics_session",
    _md,
    *_ids(),
    Column("session_start", BigInteger, nullable=False),
    Column("session_end", BigInteger, nullable=False),
    Column("grain", BigInteger, nullable=False),  # of session_start: dwell is filed there
    Column("randomized", Boolean, nullable=False),
    PrimaryKeyConstraint("campaign_id", "asset_id", "zone_id", "hid", "session_start"),
    Index("ix_analytics_session_campaign_grain", "campaign_id", "grain"),
)

impression = Table(
    "analytics_impression",
    _md,
    *_ids(),
    Column("at", BigInteger, nullable=False),
    Column("grain", BigInteger, nullable=False),
    Column("n", Integer, nullable=False),
    Column("randomized", Boolean, nullable=False),
    PrimaryKeyConstraint("campaign_id", "asset_id", "zone_id", "hid", "at"),
    Index("ix_analytics_impression_campaign_grain", "campaign_id", "grain"),
)

route = Table(
    "analytics_route",
    _md,
    Column("asset_id", String(64), nullable=False),
    Column("minute", BigInteger, nullable=False),  # start of the UTC minute
    Column("ts", BigInteger, nullable=False),  # the earliest fix in it (ties: smallest lat, lon)
    Column("lat_e6", Integer, nullable=False),
    Column("lon_e6", Integer, nullable=False),
    PrimaryKeyConstraint("asset_id", "minute"),
)

ROLLUP_TABLES = (active, presence, seen, session, impression, route)
