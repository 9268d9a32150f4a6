"""`DeliveredImpressions` read from the persisted analytics rollups (cloud/analytics/sql).

Delivered impressions of a campaign on a UTC day = the sum of `analytics_impression.n` whose
moment `at` falls in that day. This reads the rollup the ingest keeps; it does not re-apply the
query-time crew exclusion of docs/metrics.md §2.6 (TODO: switch to the campaigns branch's named
service function for "delivered impressions per campaign per UTC day" once it lands, so billing
and the advertiser's report share one number by construction).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from cloud.analytics.sql.tables import impression

DAY_MS = 86_400_000


def _ms(d: date) -> int:
    return int(datetime.combine(d, time(0), UTC).timestamp() * 1000)


class RollupImpressions:
    def daily_impressions(
        self, session: Session, *, campaign_id: str, start: date, end: date
    ) -> Mapping[date, int]:
        day = impression.c.at - impression.c.at % DAY_MS  # the UTC day's start, in ms
        stmt = (
            select(day.label("day"), func.sum(impression.c.n))
            .where(
                impression.c.campaign_id == campaign_id,
                impression.c.at >= _ms(start),
                impression.c.at < _ms(end),
            )
            .group_by(day)
        )
        epoch = date(1970, 1, 1)
        return {epoch + timedelta(days=int(d) // DAY_MS): int(n) for d, n in session.execute(stmt)}
