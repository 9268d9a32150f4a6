"""The two partner exports, as `run_export` calls: what each reads, builds and where it lands.

A period is one UTC day (`YYYY-MM-DD`): the scheduler exports yesterday for every campaign that
ran; ops can export any day on demand (`POST /exports/{partner}/{campaign_id}`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from cloud.exports.artifacts import MOGEAN_SCHEMA, SPOTZI_SCHEMA, mogean_segment, spotzi_zone_hours
from cloud.exports.config import ExportSettings
from cloud.exports.models import Partner, PartnerExport
from cloud.exports.s3 import ObjectStore
from cloud.exports.service import ExportSpec, PartHook, run_export
from cloud.exports.sources import SegmentSource, ZoneHourSource


def day_ms(day: date) -> tuple[int, int]:
    start = int(datetime.combine(day, time(0), UTC).timestamp() * 1000)
    return start, start + 86_400_000


def export_mogean(
    engine: Engine,
    store: ObjectStore,
    settings: ExportSettings,
    source: SegmentSource,
    *,
    campaign_id: str,
    day: date,
    now: datetime,
    on_part: PartHook | None = None,
) -> list[PartnerExport]:
    """One export per segment of the campaign (each withheld or complete on its own)."""
    start, end = day_ms(day)
    with Session(engine) as s:
        segments = list(source.segments(s, campaign_id=campaign_id))
    out = []
    for segment in segments:

        def build(segment: str = segment):  # type: ignore[no-untyped-def]
            with Session(engine) as s:
                ids = source.exposed_ids(
                    s, campaign_id=campaign_id, segment=segment, start_ms=start, end_ms=end
                )
            return mogean_segment(
                secret=settings.export_mogean_secret.encode(),
                campaign_id=campaign_id,
                segment=segment,
                ids=ids,
                min_ids=settings.export_mogean_min_ids,
            )

        spec = ExportSpec(Partner.MOGEAN, campaign_id, segment, day.isoformat(), MOGEAN_SCHEMA)
        out.append(
            run_export(
                engine, store, spec, build, now=now, part_size=settings.export_part_size, on_part=on_part
            )
        )
    return out


def export_spotzi(
    engine: Engine,
    store: ObjectStore,
    settings: ExportSettings,
    source: ZoneHourSource,
    *,
    campaign_id: str,
    day: date,
    now: datetime,
) -> PartnerExport:
    start, end = day_ms(day)

    def build():  # type: ignore[no-untyped-def]
        with Session(engine) as s:
            rows = source.zone_hours(s, campaign_id=campaign_id, start_ms=start, end_ms=end)
            shapes = source.zone_shapes(s, campaign_id=campaign_id)
        return spotzi_zone_hours(rows=rows, zones=shapes, k=settings.export_spotzi_k)

    spec = ExportSpec(Partner.SPOTZI, campaign_id, "zones", day.isoformat(), SPOTZI_SCHEMA)
    return run_export(engine, store, spec, build, now=now, part_size=settings.export_part_size)


def yesterday(now: datetime) -> date:
    return now.astimezone(UTC).date() - timedelta(days=1)
