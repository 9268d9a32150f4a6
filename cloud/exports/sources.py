"""What exports read, as narrow interfaces, and their implementation over the analytics rollups.

* `SegmentSource`: per campaign segment, the hashed ids of exposed devices with their randomized
  flag.
* `ZoneHourSource`: impressions and distinct devices per zone and UTC hour, and zone shapes.

`AnalyticsSource` (the default) is analytics' own partner function
(`cloud.analytics.sql.partners.exposed_segment`): crew and infrastructure excluded, randomized
devices never listed, cells k-suppressed like any report. Its one segment is `exposed` (every
non-randomized device with an impression in the period).

`RollupSource` reads `analytics_impression` directly to cut segments per exposure zone. It does
NOT apply the query-time crew exclusion (docs/metrics.md §2.6): a crew phone can end up in a
zone segment. Use it only where per-zone segments matter more than that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import case, distinct, func, select
from sqlmodel import Session

from cloud.analytics.sql.partners import exposed_segment
from cloud.analytics.sql.tables import impression
from cloud.campaigns.models import ExposureZone
from cloud.exports.artifacts import ZoneHour

ALL = "all"
EXPOSED = "exposed"
HOUR_MS = 3_600_000


class SegmentSource(Protocol):
    def segments(self, session: Session, *, campaign_id: str) -> Sequence[str]: ...

    def exposed_ids(
        self, session: Session, *, campaign_id: str, segment: str, start_ms: int, end_ms: int
    ) -> Sequence[tuple[str, bool]]: ...


class ZoneHourSource(Protocol):
    def zone_hours(
        self, session: Session, *, campaign_id: str, start_ms: int, end_ms: int
    ) -> Sequence[ZoneHour]: ...

    def zone_shapes(
        self, session: Session, *, campaign_id: str
    ) -> Mapping[str, Mapping[str, Any] | None]: ...


class RollupSource:
    def segments(self, session: Session, *, campaign_id: str) -> Sequence[str]:
        stmt = select(ExposureZone.id).where(ExposureZone.campaign_id == campaign_id)  # type: ignore[call-overload]
        return [ALL, *sorted(session.execute(stmt).scalars())]

    def exposed_ids(
        self, session: Session, *, campaign_id: str, segment: str, start_ms: int, end_ms: int
    ) -> Sequence[tuple[str, bool]]:
        stmt = (
            select(impression.c.hid, func.max(case((impression.c.randomized, 1), else_=0)))
            .where(
                impression.c.campaign_id == campaign_id,
                impression.c.at >= start_ms,
                impression.c.at < end_ms,
            )
            .group_by(impression.c.hid)
        )
        if segment != ALL:
            stmt = stmt.where(impression.c.zone_id == segment)
        return [(hid, bool(r)) for hid, r in session.execute(stmt)]

    def zone_hours(
        self, session: Session, *, campaign_id: str, start_ms: int, end_ms: int
    ) -> Sequence[ZoneHour]:
        hour = impression.c.at - impression.c.at % HOUR_MS
        stmt = (
            select(
                impression.c.zone_id, hour, func.sum(impression.c.n), func.count(distinct(impression.c.hid))
            )
            .where(
                impression.c.campaign_id == campaign_id,
                impression.c.at >= start_ms,
                impression.c.at < end_ms,
            )
            .group_by(impression.c.zone_id, hour)
        )
        return [ZoneHour(z, int(h), int(n), int(d)) for z, h, n, d in session.execute(stmt)]

    def zone_shapes(self, session: Session, *, campaign_id: str) -> Mapping[str, Mapping[str, Any] | None]:
        rows = session.execute(select(ExposureZone).where(ExposureZone.campaign_id == campaign_id)).scalars()
        return {z.id: z.geometry for z in rows}


class AnalyticsSource:
    """Both interfaces over `exposed_segment` (see the module docstring)."""

    # analytics' own gate is 100; here it is 1 so the Mogean artifact applies the threshold itself
    # and records the real count in the withheld reason (no ids leave this process either way).
    def __init__(self, *, min_devices: int = 1) -> None:
        self.min_devices = min_devices

    def segments(self, session: Session, *, campaign_id: str) -> Sequence[str]:
        return [EXPOSED]

    def exposed_ids(
        self, session: Session, *, campaign_id: str, segment: str, start_ms: int, end_ms: int
    ) -> Sequence[tuple[str, bool]]:
        seg = exposed_segment(
            session.connection(), campaign_id, start_ms=start_ms, end_ms=end_ms, min_devices=self.min_devices
        )
        return [(h, False) for h in seg.hids]  # non-randomized only, by construction

    def zone_hours(
        self, session: Session, *, campaign_id: str, start_ms: int, end_ms: int
    ) -> Sequence[ZoneHour]:
        seg = exposed_segment(session.connection(), campaign_id, start_ms=start_ms, end_ms=end_ms)
        return [
            # A suppressed cell (None) stands for fewer than k devices: 0 here, dropped by the artifact.
            ZoneHour(c.zone_id or "", int(c.hour.timestamp() * 1000), c.impressions or 0, c.reach or 0)
            for c in seg.by_zone_hour
        ]

    def zone_shapes(self, session: Session, *, campaign_id: str) -> Mapping[str, Mapping[str, Any] | None]:
        return RollupSource().zone_shapes(session, campaign_id=campaign_id)
