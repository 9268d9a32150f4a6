"""Ops CRUD for the campaign world (ops tokens: read for GET, write for the rest).

/tenants (+ /tenants/{id}/keys: advertiser API keys), /assets, /campaigns (+ /assets windows,
/zones GeoJSON in and out, /spots), /device-history, /shipments, /infrastructure. The advertisers'
read-only API is elsewhere (cloud/api/routes/campaigns.py and reports.py, under /v1).
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Body, Query
from sqlmodel import SQLModel

from cloud.api.deps import ReadAccess, SessionDep, WriteAccess
from cloud.auth.models import TenantScope
from cloud.auth.service import create_tenant_key
from cloud.campaigns import service
from cloud.campaigns.models import (
    AdSpotCreate,
    AssetCreate,
    AssetPublic,
    AssetUpdate,
    CampaignAssetCreate,
    CampaignAssetPublic,
    CampaignCreate,
    CampaignPublic,
    CampaignUpdate,
    DeviceHistoryCreate,
    DeviceHistoryPublic,
    ExposureZoneCreate,
    ExposureZonePublic,
    InfrastructureHidCreate,
    Page,
    ShipmentCreate,
    ShipmentPublic,
    ShipmentUpdate,
    TenantCreate,
    TenantPublic,
)
from cloud.core.types import utcnow

M = TypeVar("M", bound=SQLModel)
router = APIRouter(tags=["ops: campaigns"])
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Limit = Annotated[int, Query(ge=1, le=500)]


def _pub(model: type[M], row: object) -> M:
    return model.model_validate(row, from_attributes=True)


# ---- tenants and their keys ---------------------------------------------------------------------


@router.post("/tenants", status_code=201)
def create_tenant(session: SessionDep, _auth: WriteAccess, data: TenantCreate) -> TenantPublic:
    row = service.create_tenant(session, data=data, now=utcnow())
    session.commit()
    return _pub(TenantPublic, row)


@router.get("/tenants")
def list_tenants(
    session: SessionDep, _auth: ReadAccess, offset: Offset = 0, limit: Limit = 50
) -> Page[TenantPublic]:
    rows, total = service.list_tenants(session, offset=offset, limit=limit)
    return Page[TenantPublic](
        items=[_pub(TenantPublic, r) for r in rows], total=total, offset=offset, limit=limit
    )


@router.get("/tenants/{tenant_id}")
def read_tenant(tenant_id: str, session: SessionDep, _auth: ReadAccess) -> TenantPublic:
    return _pub(TenantPublic, service.get_tenant(session, tenant_id=tenant_id))


class TenantKeyCreate(SQLModel):
    name: str = "default"
    scopes: list[TenantScope] = [TenantScope.CAMPAIGNS_READ, TenantScope.REPORTS_READ]


class TenantKeyCreated(SQLModel):
    key: str  # shown once; only its SHA-256 is stored
    prefix: str
    tenant_id: str
    scopes: list[str]


@router.post("/tenants/{tenant_id}/keys", status_code=201)
def create_key(
    tenant_id: str, session: SessionDep, _auth: WriteAccess, data: TenantKeyCreate | None = None
) -> TenantKeyCreated:
    """A new API key for the tenant's use of /v1; the key is in this answer only."""
    data = data or TenantKeyCreate()
    service.get_tenant(session, tenant_id=tenant_id)
    row, key = create_tenant_key(
        session, tenant_id=tenant_id, name=data.name[:64], scopes=set(data.scopes), now=utcnow()
    )
    session.commit()
    return TenantKeyCreated(key=key, prefix=row.prefix, tenant_id=tenant_id, scopes=row.scopes.split())


# ---- assets -------------------------------------------------------------------------------------


@router.post("/assets", status_code=201)
def create_asset(session: SessionDep, _auth: WriteAccess, data: AssetCreate) -> AssetPublic:
    row = service.create_asset(session, data=data, now=utcnow())
    session.commit()
    return _pub(AssetPublic, row)


@router.get("/assets")
def list_assets(
    session: SessionDep,
    _auth: ReadAccess,
    operator_id: str | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[AssetPublic]:
    rows, total = service.list_assets(session, operator_id=operator_id, offset=offset, limit=limit)
    return Page[AssetPublic](
        items=[_pub(AssetPublic, r) for r in rows], total=total, offset=offset, limit=limit
    )


@router.get("/assets/{asset_id}")
def read_asset(asset_id: str, session: SessionDep, _auth: ReadAccess) -> AssetPublic:
    return _pub(AssetPublic, service.get_asset(session, asset_id=asset_id))


@router.patch("/assets/{asset_id}")
def update_asset(asset_id: str, patch: AssetUpdate, session: SessionDep, _auth: WriteAccess) -> AssetPublic:
    row = service.update_asset(session, asset=service.get_asset(session, asset_id=asset_id), patch=patch)
    session.commit()
    return _pub(AssetPublic, row)


# ---- campaigns ----------------------------------------------------------------------------------


@router.post("/campaigns", status_code=201)
def create_campaign(session: SessionDep, _auth: WriteAccess, data: CampaignCreate) -> CampaignPublic:
    row = service.create_campaign(session, data=data, now=utcnow())
    session.commit()
    return _pub(CampaignPublic, row)


@router.get("/campaigns")
def list_campaigns(
    session: SessionDep, _auth: ReadAccess, offset: Offset = 0, limit: Limit = 50
) -> Page[CampaignPublic]:
    rows, total = service.list_campaigns(session, offset=offset, limit=limit)
    return Page[CampaignPublic](
        items=[_pub(CampaignPublic, r) for r in rows], total=total, offset=offset, limit=limit
    )


@router.get("/campaigns/{campaign_id}")
def read_campaign(campaign_id: str, session: SessionDep, _auth: ReadAccess) -> CampaignPublic:
    return _pub(CampaignPublic, service.get_campaign(session, campaign_id=campaign_id))


@router.patch("/campaigns/{campaign_id}")
def update_campaign(
    campaign_id: str, patch: CampaignUpdate, session: SessionDep, _auth: WriteAccess
) -> CampaignPublic:
    row = service.update_campaign(
        session, campaign=service.get_campaign(session, campaign_id=campaign_id), patch=patch
    )
    session.commit()
    return _pub(CampaignPublic, row)


@router.post("/campaigns/{campaign_id}/assets", status_code=201)
def add_campaign_asset(
    campaign_id: str, data: CampaignAssetCreate, session: SessionDep, _auth: WriteAccess
) -> CampaignAssetPublic:
    campaign = service.get_campaign(session, campaign_id=campaign_id)
    row = service.add_campaign_asset(session, campaign=campaign, data=data)
    session.commit()
    return _pub(CampaignAssetPublic, row)


@router.get("/campaigns/{campaign_id}/assets")
def list_campaign_assets(
    campaign_id: str, session: SessionDep, _auth: ReadAccess
) -> list[CampaignAssetPublic]:
    service.get_campaign(session, campaign_id=campaign_id)
    return [_pub(CampaignAssetPublic, r) for r in service.campaign_assets(session, campaign_id=campaign_id)]


class SpotsAdded(SQLModel):
    added: int
    total: int


@router.post("/campaigns/{campaign_id}/spots", status_code=201)
def add_spots(
    campaign_id: str,
    session: SessionDep,
    _auth: WriteAccess,
    spots: Annotated[list[AdSpotCreate], Body(max_length=50_000)],
) -> SpotsAdded:
    """Ad spots shown on digital assets (digital_spots campaigns), in bulk."""
    campaign = service.get_campaign(session, campaign_id=campaign_id)
    n = service.add_spots(session, campaign=campaign, spots=spots)
    session.commit()
    return SpotsAdded(added=n, total=service.count_spots(session, campaign_id=campaign_id))


@router.post("/campaigns/{campaign_id}/zones", status_code=201)
def add_zone(
    campaign_id: str, data: ExposureZoneCreate, session: SessionDep, _auth: WriteAccess
) -> ExposureZonePublic:
    """A geofence from GeoJSON (Polygon, MultiPolygon or a Feature of one); listed order decides overlaps."""
    campaign = service.get_campaign(session, campaign_id=campaign_id)
    row = service.add_zone(session, campaign=campaign, data=data)
    session.commit()
    return _pub(ExposureZonePublic, row)


@router.get("/campaigns/{campaign_id}/zones")
def list_zones(campaign_id: str, session: SessionDep, _auth: ReadAccess) -> list[ExposureZonePublic]:
    service.get_campaign(session, campaign_id=campaign_id)
    return [_pub(ExposureZonePublic, z) for z in service.zones_of(session, campaign_id=campaign_id)]


@router.delete("/campaigns/{campaign_id}/zones/{zone_id}", status_code=204)
def delete_zone(campaign_id: str, zone_id: str, session: SessionDep, _auth: WriteAccess) -> None:
    service.delete_zone(
        session, campaign=service.get_campaign(session, campaign_id=campaign_id), zone_id=zone_id
    )
    session.commit()


# ---- device history, shipments, infrastructure --------------------------------------------------


@router.post("/device-history", status_code=201)
def mount(data: DeviceHistoryCreate, session: SessionDep, _auth: WriteAccess) -> DeviceHistoryPublic:
    """A sensor mounted on an asset; a still-open earlier mount of the device ends at this one's start."""
    row = service.mount(session, data=data)
    session.commit()
    return _pub(DeviceHistoryPublic, row)


@router.get("/device-history")
def list_history(
    session: SessionDep,
    _auth: ReadAccess,
    device_id: str | None = None,
    asset_id: str | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[DeviceHistoryPublic]:
    rows, total = service.device_history(
        session, device_id=device_id, asset_id=asset_id, offset=offset, limit=limit
    )
    return Page[DeviceHistoryPublic](
        items=[_pub(DeviceHistoryPublic, r) for r in rows], total=total, offset=offset, limit=limit
    )


@router.post("/shipments", status_code=201)
def create_shipment(data: ShipmentCreate, session: SessionDep, _auth: WriteAccess) -> ShipmentPublic:
    row = service.create_shipment(session, data=data)
    session.commit()
    return _pub(ShipmentPublic, row)


@router.patch("/shipments/{shipment_id}")
def advance_shipment(
    shipment_id: int, patch: ShipmentUpdate, session: SessionDep, _auth: WriteAccess
) -> ShipmentPublic:
    """sent -> received -> installed, or returned from any of them."""
    row = service.advance_shipment(
        session, shipment=service.get_shipment(session, shipment_id=shipment_id), patch=patch
    )
    session.commit()
    return _pub(ShipmentPublic, row)


@router.get("/shipments")
def list_shipments(
    session: SessionDep,
    _auth: ReadAccess,
    device_id: str | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[ShipmentPublic]:
    rows, total = service.list_shipments(session, device_id=device_id, offset=offset, limit=limit)
    return Page[ShipmentPublic](
        items=[_pub(ShipmentPublic, r) for r in rows], total=total, offset=offset, limit=limit
    )


@router.post("/infrastructure", status_code=201)
def add_infrastructure(
    data: InfrastructureHidCreate, session: SessionDep, _auth: WriteAccess
) -> dict[str, str]:
    """A hashed id of a fixed MAC (router, gateway) that no metric may count."""
    row = service.add_infrastructure(session, data=data)
    session.commit()
    return {"hid": row.hid, "note": row.note}
