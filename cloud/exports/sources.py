"""What exports read, as narrow interfaces, and their implementation over the analytics rollups.

* `SegmentSource`: per campaign segment, the hashed ids of exposed devices with their randomized
  flag. A segment here is an exposure zone of the campaign, or `all` (every exposed device).
* `ZoneHourSource`: impressions and distinct devices per zone and UTC hour, and zone shapes.

`RollupSource` reads `analytics_impression` (cloud/analytics/sql) and `exposure_zone`. Like
billing's source it does not re-apply the query-time crew exclusion (docs/metrics.md §2.6); TODO:
use the campaigns branch's named service functions when they land.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import case, distinct, func, select
from sqlmodel import Session

from cloud.analytics.sql.tables import impression
from cloud.campaigns.models import ExposureZone
from cloud.exports.artifacts import ZoneHour

ALL = "all"
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
