"""Scheduled exports: once per interval, yesterday's Mogean and Spotzi exports for every campaign
that ran on an asset that day. Idempotent, so running it often is cheap (complete exports are
skipped by their row) and a failed one is retried on the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import structlog
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from cloud.campaigns.models import CampaignAsset
from cloud.exports.config import ExportSettings
from cloud.exports.exceptions import ExportError
from cloud.exports.models import PartnerExport
from cloud.exports.partners import export_mogean, export_spotzi, yesterday
from cloud.exports.s3 import ObjectStore
from cloud.exports.sources import SegmentSource, ZoneHourSource

log = structlog.get_logger("cloud.exports")


def campaigns_running_on(session: Session, day: date) -> list[str]:
    start = datetime.combine(day, time(0), UTC)
    end = start + timedelta(days=1)
    stmt = (
        select(CampaignAsset.campaign_id)
        .where(col(CampaignAsset.starts_at) < end, col(CampaignAsset.ends_at) > start)
        .distinct()
    )
    return sorted(session.exec(stmt))


def run_due(
    engine: Engine,
    store: ObjectStore,
    settings: ExportSettings,
    source: SegmentSource | ZoneHourSource,
    *,
    now: datetime,
) -> list[PartnerExport]:
    day = yesterday(now)
    with Session(engine) as s:
        campaigns = campaigns_running_on(s, day)
    done: list[PartnerExport] = []
    for campaign_id in campaigns:
        done += export_mogean(engine, store, settings, source, campaign_id=campaign_id, day=day, now=now)  # type: ignore[arg-type]
        done.append(export_spotzi(engine, store, settings, source, campaign_id=campaign_id, day=day, now=now))  # type: ignore[arg-type]
    return done


@dataclass
class ExportSchedule:
    engine: Engine
    store: ObjectStore
    settings: ExportSettings
    source: SegmentSource | ZoneHourSource
    interval_s: float = 3600.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Run until `stop()`; the caller owns the task (a named task in its TaskGroup)."""
        while not self.stop_event.is_set():
            try:
                rows = await asyncio.to_thread(
                    run_due, self.engine, self.store, self.settings, self.source, now=self.clock()
                )
                log.info("exports.tick", exports=len(rows), failed=sum(r.status == "failed" for r in rows))
            except ExportError as e:  # recorded per export; this is a store-wide failure
                log.error("exports.tick_failed", error=str(e))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), timeout=self.interval_s)

    def stop(self) -> None:
        self.stop_event.set()
