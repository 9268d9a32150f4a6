"""/v1/campaigns: the advertisers' view of their campaigns (tenant keys; staff ops tokens see all).

Another tenant's campaign is 404, exactly like one that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlmodel import SQLModel

from cloud.api.deps import CampaignsAccess, SessionDep
from cloud.campaigns import service
from cloud.campaigns.models import CampaignState, Page

router = APIRouter(prefix="/v1/campaigns", tags=["advertisers: campaigns"])

_CAMPAIGN_EXAMPLE = {
    "id": "spring-push",
    "name": "Spring push",
    "advertiser_id": "acme",
    "agency_id": None,
    "rule": "dedup_window",
    "exposure_rssi": -70,
    "passerby_rssi": -85,
    "k": 5,
    "timezone": "Europe/Prague",
    "state": "paused",
    "state_reason": "payment failed: invoice in_1 (attempt 1): Your card was declined.",
}


class AdvertiserCampaign(SQLModel):
    id: str
    name: str
    advertiser_id: str
    agency_id: str | None
    rule: str
    exposure_rssi: int
    passerby_rssi: int
    k: int
    timezone: str
    state: CampaignState  # draft until paid; paused (with state_reason) after a failed payment
    state_reason: str | None

    model_config = {"json_schema_extra": {"examples": [_CAMPAIGN_EXAMPLE]}}  # type: ignore[assignment]


class CampaignWindow(SQLModel):
    asset_id: str
    starts_at: datetime
    ends_at: datetime


class AdvertiserCampaignDetail(AdvertiserCampaign):
    windows: list[CampaignWindow]
    zones: dict[str, Any]  # GeoJSON FeatureCollection, one Feature per exposure zone, in listed order

    model_config = {  # type: ignore[assignment]
        "json_schema_extra": {
            "examples": [
                _CAMPAIGN_EXAMPLE
                | {
                    "windows": [
                        {
                            "asset_id": "truck-1",
                            "starts_at": "2024-10-26T22:00:00Z",
                            "ends_at": "2024-10-27T05:00:00Z",
                        }
                    ],
                    "zones": {"type": "FeatureCollection", "features": []},
                }
            ]
        }
    }


def _public(c: object) -> AdvertiserCampaign:
    return AdvertiserCampaign.model_validate(c, from_attributes=True)


def zones_geojson(session: SessionDep, campaign_id: str) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": z.id,
                "properties": {"name": z.name, "position": z.position},
                "geometry": z.geometry,
            }
            for z in service.zones_of(session, campaign_id=campaign_id)
        ],
    }


@router.get("", summary="Your campaigns, paginated")
def list_campaigns(
    session: SessionDep,
    who: CampaignsAccess,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[AdvertiserCampaign]:
    rows, total = service.list_campaigns(session, tenant_id=who.tenant_id, offset=offset, limit=limit)
    return Page[AdvertiserCampaign](items=[_public(r) for r in rows], total=total, offset=offset, limit=limit)


@router.get(
    "/{campaign_id}",
    summary="One of your campaigns: its asset windows and exposure zones (GeoJSON)",
    responses={404: {"description": "no such campaign, or not yours"}},
)
def read_campaign(campaign_id: str, session: SessionDep, who: CampaignsAccess) -> AdvertiserCampaignDetail:
    c = service.get_campaign(session, campaign_id=campaign_id, tenant_id=who.tenant_id)
    windows = [
        CampaignWindow(asset_id=w.asset_id, starts_at=w.starts_at, ends_at=w.ends_at)
        for w in service.campaign_assets(session, campaign_id=c.id)
    ]
    return AdvertiserCampaignDetail(
        **_public(c).model_dump(), windows=windows, zones=zones_geojson(session, c.id)
    )


@router.get(
    "/{campaign_id}/zones",
    summary="The campaign's exposure zones as a GeoJSON FeatureCollection",
    responses={404: {"description": "no such campaign, or not yours"}},
)
def read_zones(campaign_id: str, session: SessionDep, who: CampaignsAccess) -> dict[str, Any]:
    c = service.get_campaign(session, campaign_id=campaign_id, tenant_id=who.tenant_id)
    return zones_geojson(session, c.id)
