"""/v1/campaigns/{id}/report: audience metrics of one of your campaigns, JSON or CSV; and
/v1/campaigns/{id}/assets/{asset}/route: the GPS route of one of its assets, GeoJSON or CSV.

Breakdowns: any of asset, zone and one time grain (quarter, hour, day) in an explicit IANA zone
(default: the campaign's); `start`/`end` need an explicit UTC offset and select the 15-minute
grains starting in [start, end). Definitions: docs/metrics.md. Privacy: no cell under the
campaign's k devices (k = 5 by default); rows carry no device id. A route is the asset's own
position (its sensors' first fix in each UTC minute) inside the campaign's windows on that asset.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime
from sqlmodel import SQLModel

from cloud.analytics.grains import zone
from cloud.analytics.rollup import BUCKET_LABELS, ReportRow
from cloud.analytics.route import Fix, downsample
from cloud.analytics.sql.query import asset_route, campaign_report
from cloud.api.deps import ReportsAccess, SessionDep
from cloud.campaigns import service
from cloud.campaigns.world import load_campaigns, to_ms
from cloud.exceptions import NotFoundError

router = APIRouter(prefix="/v1/campaigns", tags=["advertisers: reports"])


class Dimension(StrEnum):
    ASSET = "asset"
    ZONE = "zone"
    QUARTER = "quarter"
    HOUR = "hour"
    DAY = "day"


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"


class Randomized(SQLModel):
    addresses: int | None
    impressions_by_address: int | None
    estimated_devices: float | None
    estimated_impressions: float | None
    modelled: bool
    method: str


class Row(SQLModel):
    asset_id: str | None
    zone_id: str | None
    period: str | None  # local ISO-8601 start with its UTC offset (fall-back hours appear twice)
    period_start_utc: datetime | None
    impressions: int | None
    reach: int | None
    frequency: float | None
    passersby: int | None
    visitors: int | None
    engaged: int | None
    dwell_median_s: float | None
    dwell_p90_s: float | None
    dwell_buckets: dict[str, int | None]
    randomized: Randomized
    suppressed: bool
    suppressed_fields: list[str]


class ReportPage(SQLModel):
    campaign_id: str
    tz: str
    by: list[str]
    k: int
    start: datetime | None
    end: datetime | None
    total: int
    offset: int
    limit: int
    rows: list[Row]

    model_config = {  # type: ignore[assignment]
        "json_schema_extra": {
            "examples": [
                {
                    "campaign_id": "spring-push",
                    "tz": "Europe/Prague",
                    "by": ["hour"],
                    "k": 5,
                    "start": "2024-10-27T00:00:00+02:00",
                    "end": "2024-10-28T00:00:00+01:00",
                    "total": 1,
                    "offset": 0,
                    "limit": 100,
                    "rows": [
                        {
                            "asset_id": None,
                            "zone_id": None,
                            "period": "2024-10-27T02:00:00+01:00",
                            "period_start_utc": "2024-10-27T01:00:00Z",
                            "impressions": 57,
                            "reach": 41,
                            "frequency": 1.39,
                            "passersby": 88,
                            "visitors": 12,
                            "engaged": None,
                            "dwell_median_s": 41.0,
                            "dwell_p90_s": 388.5,
                            "dwell_buckets": {
                                "0-1m": 30,
                                "1-2m": 6,
                                "2-5m": 8,
                                "5-10m": 5,
                                "10-20m": None,
                                "20m+": 0,
                            },
                            "randomized": {
                                "addresses": 19,
                                "impressions_by_address": 23,
                                "estimated_devices": 11.0,
                                "estimated_impressions": 13.3,
                                "modelled": True,
                                "method": "min chain cover per asset and 15-min grain; "
                                "non-randomized revisit ratio across grains",
                            },
                            "suppressed": False,
                            "suppressed_fields": ["engaged", "dwell_buckets.10-20m"],
                        }
                    ],
                }
            ]
        }
    }


CSV_COLUMNS = [
    "campaign_id",
    "asset_id",
    "zone_id",
    "period",
    "period_start_utc",
    "impressions",
    "reach",
    "frequency",
    "passersby",
    "visitors",
    "engaged",
    "dwell_median_s",
    "dwell_p90_s",
    *[f"dwell_{b}" for b in BUCKET_LABELS],
    "randomized_addresses",
    "randomized_impressions_by_address",
    "randomized_estimated_devices",
    "randomized_estimated_impressions",
    "suppressed",
    "suppressed_fields",
]
_CSV_EXAMPLE = (
    ",".join(CSV_COLUMNS)
    + "\r\nspring-push,,,2024-10-27T02:00:00+01:00,2024-10-27T01:00:00+00:00,57,41,1.39,88,12,,41.0,388.5,"
    "30,6,8,5,,0,19,23,11.0,13.3,false,engaged dwell_buckets.10-20m\r\n"
)


def _row(r: ReportRow) -> Row:
    start = None if r.period_start_ms is None else datetime.fromtimestamp(r.period_start_ms / 1000, tz=UTC)
    return Row(
        asset_id=r.asset_id,
        zone_id=r.zone_id if r.zone_id != "" else None,
        period=r.period,
        period_start_utc=start,
        impressions=r.impressions,
        reach=r.reach,
        frequency=r.frequency,
        passersby=r.passersby,
        visitors=r.visitors,
        engaged=r.engaged,
        dwell_median_s=r.dwell_median_s,
        dwell_p90_s=r.dwell_p90_s,
        dwell_buckets=dict(r.dwell_buckets),
        randomized=Randomized(
            addresses=r.randomized.addresses,
            impressions_by_address=r.randomized.impressions_by_address,
            estimated_devices=r.randomized.estimated_devices,
            estimated_impressions=r.randomized.estimated_impressions,
            modelled=r.randomized.modelled,
            method=r.randomized.method,
        ),
        suppressed=r.suppressed,
        suppressed_fields=list(r.suppressed_fields),
    )


def _csv(page: ReportPage) -> str:
    def cell(v: object) -> object:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, datetime):
            return v.isoformat()
        return v

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for r in page.rows:
        rz = r.randomized
        w.writerow(
            cell(v)
            for v in (
                page.campaign_id,
                r.asset_id,
                r.zone_id,
                r.period,
                r.period_start_utc,
                r.impressions,
                r.reach,
                r.frequency,
                r.passersby,
                r.visitors,
                r.engaged,
                r.dwell_median_s,
                r.dwell_p90_s,
                *[r.dwell_buckets.get(b) for b in BUCKET_LABELS],
                rz.addresses,
                rz.impressions_by_address,
                rz.estimated_devices,
                rz.estimated_impressions,
                r.suppressed,
                " ".join(r.suppressed_fields),
            )
        )
    return buf.getvalue()


def _ms(dt: datetime | None) -> int | None:
    return None if dt is None else int(dt.timestamp() * 1000)


@router.get(
    "/{campaign_id}/report",
    summary="Impressions, reach, frequency, dwell, passersby/visitors/engaged; JSON or CSV",
    response_model=ReportPage,
    responses={
        200: {"content": {"text/csv": {"example": _CSV_EXAMPLE}}, "description": "the report page"},
        404: {"description": "no such campaign, or not yours"},
        422: {"description": "unknown breakdown, two time grains, naive datetime or unknown time zone"},
    },
)
def report(
    campaign_id: str,
    session: SessionDep,
    who: ReportsAccess,
    by: Annotated[
        list[Dimension] | None,
        Query(description="breakdowns: any of asset, zone and at most one of quarter/hour/day", max_length=5),
    ] = None,
    tz: Annotated[
        str | None,
        Query(
            max_length=64,
            description="IANA time zone of the periods (default: the campaign's)",
            examples=["Europe/Prague"],
        ),
    ] = None,
    start: Annotated[
        AwareDatetime | None,
        Query(description="first grain (explicit offset)", examples=["2024-10-27T00:00:00+02:00"]),
    ] = None,
    end: Annotated[
        AwareDatetime | None,
        Query(description="end, exclusive (explicit offset)", examples=["2024-10-28T00:00:00+01:00"]),
    ] = None,
    format: Format = Format.JSON,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
) -> ReportPage | Response:
    row = service.get_campaign(session, campaign_id=campaign_id, tenant_id=who.tenant_id)
    conn = session.connection()
    c = load_campaigns(conn, [row.id])[row.id]
    dims = list(dict.fromkeys(d.value for d in by or ()))
    tz_name = tz or row.timezone
    rep = campaign_report(conn, c, by=dims, tz=tz_name, start_ms=_ms(start), end_ms=_ms(end))
    rows = rep.rows[offset : offset + limit]
    page = ReportPage(
        campaign_id=c.id,
        tz=tz_name,
        by=dims,
        k=rep.k,
        start=start,
        end=end,
        total=len(rep.rows),
        offset=offset,
        limit=limit,
        rows=[_row(r) for r in rows],
    )
    if format is Format.CSV:
        return Response(
            _csv(page),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{c.id}-report.csv"'},
        )
    return page


class RouteFormat(StrEnum):
    GEOJSON = "geojson"
    CSV = "csv"


class RouteProperties(SQLModel):
    campaign_id: str
    asset_id: str
    tz: str
    resolution_s: int  # one fix per UTC minute at most
    points: int  # in this answer
    points_in_window: int  # before downsampling to max_points
    times: list[str]  # local ISO-8601 with offset, one per coordinate


class RouteGeometry(SQLModel):
    type: Literal["LineString", "Point"]
    coordinates: list[Any]  # [lon, lat] in degrees (RFC 7946)


class RouteFeature(SQLModel):
    type: Literal["Feature"] = "Feature"
    geometry: RouteGeometry
    properties: RouteProperties


class AssetRoute(SQLModel):
    """GeoJSON FeatureCollection: one LineString (a Point for a single fix, nothing for none)."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[RouteFeature]

    model_config = {  # type: ignore[assignment]
        "json_schema_extra": {
            "examples": [
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "geometry": {
                                "type": "LineString",
                                "coordinates": [[16.0, 49.0], [16.006587, 49.0], [16.010979, 49.0]],
                            },
                            "properties": {
                                "campaign_id": "spring-push",
                                "asset_id": "truck-1",
                                "tz": "Europe/Prague",
                                "resolution_s": 60,
                                "points": 3,
                                "points_in_window": 3,
                                "times": [
                                    "2024-10-27T00:00:12.000+02:00",
                                    "2024-10-27T00:01:03.000+02:00",
                                    "2024-10-27T00:02:05.000+02:00",
                                ],
                            },
                        }
                    ],
                }
            ]
        }
    }


ROUTE_CSV_COLUMNS = ["ts", "lat", "lon"]
_ROUTE_CSV_EXAMPLE = (
    "ts,lat,lon\r\n2024-10-27T00:00:12.000+02:00,49.000000,16.000000\r\n"
    "2024-10-27T00:01:03.000+02:00,49.000000,16.006587\r\n"
)


def _deg(e6: int) -> str:
    return f"{e6 / 1e6:.6f}"


@router.get(
    "/{campaign_id}/assets/{asset_id}/route",
    summary="GPS route of one of the campaign's assets over its windows; GeoJSON or CSV",
    response_model=AssetRoute,
    responses={
        200: {"content": {"text/csv": {"example": _ROUTE_CSV_EXAMPLE}}, "description": "the route"},
        404: {"description": "no such campaign, or not yours; or the asset does not run it"},
        422: {"description": "naive datetime or unknown time zone"},
    },
)
def asset_route_report(
    campaign_id: str,
    asset_id: str,
    session: SessionDep,
    who: ReportsAccess,
    tz: Annotated[
        str | None,
        Query(
            max_length=64,
            description="IANA time zone of the timestamps (default: the campaign's)",
            examples=["Europe/Prague"],
        ),
    ] = None,
    start: Annotated[
        AwareDatetime | None,
        Query(description="from (explicit offset)", examples=["2024-10-27T00:00:00+02:00"]),
    ] = None,
    end: Annotated[
        AwareDatetime | None,
        Query(description="until, exclusive (explicit offset)", examples=["2024-10-28T00:00:00+01:00"]),
    ] = None,
    format: RouteFormat = RouteFormat.GEOJSON,
    max_points: Annotated[
        int, Query(ge=2, le=10_000, description="thin evenly to at most this many points")
    ] = 1000,
) -> AssetRoute | Response:
    row = service.get_campaign(session, campaign_id=campaign_id, tenant_id=who.tenant_id)
    tz_name = tz or row.timezone
    zi = zone(tz_name)
    lo = _ms(start)
    hi = _ms(end)
    runs = [w for w in service.campaign_assets(session, campaign_id=row.id) if w.asset_id == asset_id]
    if not runs:
        raise NotFoundError("campaign asset", asset_id)
    windows = []
    for w in runs:
        a, b = to_ms(w.starts_at), to_ms(w.ends_at)
        if lo is not None:
            a = max(a, lo)
        if hi is not None:
            b = min(b, hi)
        if a < b:
            windows.append((a, b))
    found = asset_route(session.connection(), asset_id, windows)
    points = downsample(found, max_points)

    def local(f: Fix) -> str:
        t = datetime.fromtimestamp(f.ts_ms / 1000, tz=UTC)
        return t.astimezone(zi).isoformat(timespec="milliseconds")

    if format is RouteFormat.CSV:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(ROUTE_CSV_COLUMNS)
        for f in points:
            w.writerow((local(f), _deg(f.lat_e6), _deg(f.lon_e6)))
        return Response(
            buf.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{row.id}-{asset_id}-route.csv"'},
        )
    if not points:
        return AssetRoute(features=[])
    coords = [[float(_deg(f.lon_e6)), float(_deg(f.lat_e6))] for f in points]
    geometry = (
        RouteGeometry(type="LineString", coordinates=coords)
        if len(coords) > 1
        else RouteGeometry(type="Point", coordinates=coords[0])
    )
    props = RouteProperties(
        campaign_id=row.id,
        asset_id=asset_id,
        tz=tz_name,
        resolution_s=60,
        points=len(points),
        points_in_window=len(found),
        times=[local(f) for f in points],
    )
    return AssetRoute(features=[RouteFeature(geometry=geometry, properties=props)])
