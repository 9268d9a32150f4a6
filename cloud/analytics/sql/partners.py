"""What partner integrations read (branch `integrations`: Stripe billing, S3 exports).

- `delivered_impressions_by_day`: billing. Per campaign and UTC day: counted impressions of
  non-randomized devices plus the modelled impressions of randomized ones, crew and
  infrastructure excluded. Not k-suppressed (an internal billing figure, never an audience cell).
- `exposed_segment`: retargeting/measurement exports. The hashed ids (16 hex, never a MAC) of
  non-randomized devices with an impression in the period, only when the segment holds at least
  `min_devices` (100, MISSION §5) of them, else no ids at all; and impressions by zone and UTC hour,
  k-suppressed like any report.

Both read the rollup tables only and run inside the caller's connection/transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, select

from cloud.analytics.rollup import NO_ZONE
from cloud.analytics.sql.query import campaign_report, crew_map
from cloud.analytics.sql.tables import impression
from cloud.campaigns.world import load_campaigns
from cloud.exceptions import NotFoundError

RETARGETING_MIN_DEVICES = 100


@dataclass(frozen=True, slots=True)
class DailyImpressions:
    campaign_id: str
    day: date  # UTC calendar day
    impressions: int  # counted: non-randomized devices
    randomized_estimated_impressions: float  # modelled (randomized addresses), see docs/metrics.md
    total: float  # impressions + randomized_estimated_impressions: the billable figure


@dataclass(frozen=True, slots=True)
class ZoneHourImpressions:
    zone_id: str | None  # None: the campaign has no zones
    hour: datetime  # UTC hour start
    impressions: int | None  # None: suppressed (fewer than k devices)
    reach: int | None


@dataclass(frozen=True, slots=True)
class Segment:
    campaign_id: str
    start_ms: int | None
    end_ms: int | None
    hids: tuple[str, ...]  # sorted; empty when the segment is under min_devices
    devices: int  # how many non-randomized exposed devices the segment has
    released: bool  # devices >= min_devices
    by_zone_hour: tuple[ZoneHourImpressions, ...]


def _campaign(conn: Connection, campaign_id: str):  # type: ignore[no-untyped-def]
    c = load_campaigns(conn, [campaign_id]).get(campaign_id)
    if c is None:
        raise NotFoundError("campaign", campaign_id)
    return c


def delivered_impressions_by_day(
    conn: Connection, campaign_id: str, *, start_ms: int | None = None, end_ms: int | None = None
) -> list[DailyImpressions]:
    """Delivered impressions per UTC day, oldest first (NotFoundError for an unknown campaign)."""
    c = _campaign(conn, campaign_id)
    report = campaign_report(conn, c, by=("day",), tz="UTC", start_ms=start_ms, end_ms=end_ms, k=1)
    out = []
    for r in report.rows:
        n = r.impressions or 0
        est = r.randomized.estimated_impressions or 0.0
        day = datetime.fromtimestamp((r.period_start_ms or 0) / 1000, tz=UTC).date()
        out.append(DailyImpressions(campaign_id, day, n, est, n + est))
    return out


def exposed_segment(
    conn: Connection,
    campaign_id: str,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    min_devices: int = RETARGETING_MIN_DEVICES,
) -> Segment:
    """Hashed ids of the campaign's non-randomized exposed devices, and impressions by zone and hour."""
    c = _campaign(conn, campaign_id)
    t = impression
    cond = [t.c.campaign_id == campaign_id, t.c.randomized.is_(False)]
    if start_ms is not None:
        cond.append(t.c.grain >= start_ms)
    if end_ms is not None:
        cond.append(t.c.grain < end_ms)
    rows = conn.execute(select(t.c.asset_id, t.c.grain, t.c.hid).where(*cond).distinct()).all()
    crews: dict[str, dict[int, frozenset[str]]] = {}
    hids: set[str] = set()
    for asset, q, hid in rows:
        if asset not in crews:
            crews[asset] = crew_map(conn, asset, fraction=c.crew_fraction, start_ms=start_ms, end_ms=end_ms)
        if hid not in crews[asset].get(q, ()):
            hids.add(hid)
    released = len(hids) >= min_devices
    report = campaign_report(conn, c, by=("zone", "hour"), tz="UTC", start_ms=start_ms, end_ms=end_ms)
    cells = tuple(
        ZoneHourImpressions(
            None if r.zone_id == NO_ZONE else r.zone_id,
            datetime.fromtimestamp((r.period_start_ms or 0) / 1000, tz=UTC),
            r.impressions,
            r.reach,
        )
        for r in report.rows
    )
    return Segment(
        campaign_id, start_ms, end_ms, tuple(sorted(hids)) if released else (), len(hids), released, cells
    )
