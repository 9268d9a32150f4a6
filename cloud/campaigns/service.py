"""Operations on the campaign world. Keyword-only; the caller owns the transaction (commits).

Visibility: `tenant_id=None` means Mobilytics staff (everything); an advertiser sees the campaigns
it is the advertiser of, an agency the campaigns it runs for advertisers. Anything else is
`NotFoundError` (404), never a hint that it exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from cloud.analytics.exceptions import ZoneError
from cloud.analytics.exposure import parse_zone, zone_to_geojson
from cloud.campaigns.exceptions import AlreadyExistsError, InvalidInputError, OverlapError
from cloud.campaigns.models import (
    AdSpot,
    AdSpotCreate,
    Asset,
    AssetCreate,
    AssetUpdate,
    Campaign,
    CampaignAsset,
    CampaignAssetCreate,
    CampaignCreate,
    CampaignUpdate,
    DeviceHistory,
    DeviceHistoryCreate,
    ExposureZone,
    ExposureZoneCreate,
    InfrastructureHid,
    InfrastructureHidCreate,
    Shipment,
    ShipmentCreate,
    ShipmentStatus,
    ShipmentUpdate,
    Tenant,
    TenantCreate,
)
from cloud.exceptions import InvalidStateChangeError, NotFoundError


def _page(session: Session, stmt: Any, order: Any, offset: int, limit: int) -> tuple[list[Any], int]:
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    order = order if isinstance(order, tuple) else (order,)
    rows = session.exec(stmt.order_by(*order).offset(offset).limit(limit)).all()
    return list(rows), int(total)


# ---- tenants ------------------------------------------------------------------------------------


def create_tenant(session: Session, *, data: TenantCreate, now: datetime) -> Tenant:
    if session.get(Tenant, data.id) is not None:
        raise AlreadyExistsError("tenant", data.id)
    row = Tenant(id=data.id, name=data.name, kind=data.kind, created_at=now)
    session.add(row)
    session.flush()
    return row


def get_tenant(session: Session, *, tenant_id: str) -> Tenant:
    row = session.get(Tenant, tenant_id)
    if row is None:
        raise NotFoundError("tenant", tenant_id)
    return row


def list_tenants(session: Session, *, offset: int, limit: int) -> tuple[list[Tenant], int]:
    return _page(session, select(Tenant), col(Tenant.id), offset, limit)


# ---- assets -------------------------------------------------------------------------------------


def _ref(session: Session, model: Any, key: str | None, field: str) -> None:
    if key is not None and session.get(model, key) is None:
        raise InvalidInputError(field=field, reason=f"{key!r} does not exist")


def create_asset(session: Session, *, data: AssetCreate, now: datetime) -> Asset:
    if session.get(Asset, data.id) is not None:
        raise AlreadyExistsError("asset", data.id)
    _ref(session, Tenant, data.operator_id, "operator_id")
    row = Asset(id=data.id, name=data.name, kind=data.kind, operator_id=data.operator_id, created_at=now)
    session.add(row)
    session.flush()
    return row


def get_asset(session: Session, *, asset_id: str) -> Asset:
    row = session.get(Asset, asset_id)
    if row is None:
        raise NotFoundError("asset", asset_id)
    return row


def list_assets(
    session: Session, *, operator_id: str | None = None, offset: int, limit: int
) -> tuple[list[Asset], int]:
    stmt = select(Asset)
    if operator_id is not None:
        stmt = stmt.where(Asset.operator_id == operator_id)
    return _page(session, stmt, col(Asset.id), offset, limit)


def update_asset(session: Session, *, asset: Asset, patch: AssetUpdate) -> Asset:
    values = patch.model_dump(exclude_unset=True)
    if "operator_id" in values:
        _ref(session, Tenant, values["operator_id"], "operator_id")
    for k, v in values.items():
        if k == "name" and v is None:
            continue
        setattr(asset, k, v)
    session.add(asset)
    session.flush()
    return asset


# ---- campaigns ----------------------------------------------------------------------------------


def _visible(stmt: Any, tenant_id: str | None) -> Any:
    if tenant_id is None:
        return stmt
    return stmt.where(or_(Campaign.advertiser_id == tenant_id, Campaign.agency_id == tenant_id))


def create_campaign(session: Session, *, data: CampaignCreate, now: datetime) -> Campaign:
    if session.get(Campaign, data.id) is not None:
        raise AlreadyExistsError("campaign", data.id)
    _ref(session, Tenant, data.advertiser_id, "advertiser_id")
    _ref(session, Tenant, data.agency_id, "agency_id")
    row = Campaign.model_validate(data.model_dump() | {"created_at": now})
    session.add(row)
    session.flush()
    return row


def get_campaign(session: Session, *, campaign_id: str, tenant_id: str | None = None) -> Campaign:
    """The campaign if the tenant may see it (None = staff); NotFoundError otherwise."""
    row = session.exec(_visible(select(Campaign).where(Campaign.id == campaign_id), tenant_id)).first()
    if row is None:
        raise NotFoundError("campaign", campaign_id)
    return row


def list_campaigns(
    session: Session, *, tenant_id: str | None = None, offset: int, limit: int
) -> tuple[list[Campaign], int]:
    return _page(session, _visible(select(Campaign), tenant_id), col(Campaign.id), offset, limit)


def update_campaign(session: Session, *, campaign: Campaign, patch: CampaignUpdate) -> Campaign:
    values = {
        k: v for k, v in patch.model_dump(exclude_unset=True).items() if v is not None or k == "agency_id"
    }
    if "agency_id" in values:
        _ref(session, Tenant, values["agency_id"], "agency_id")
    for k, v in values.items():
        setattr(campaign, k, v)
    session.add(campaign)
    session.flush()
    return campaign


def add_campaign_asset(session: Session, *, campaign: Campaign, data: CampaignAssetCreate) -> CampaignAsset:
    _ref(session, Asset, data.asset_id, "asset_id")
    row = CampaignAsset(
        campaign_id=campaign.id, asset_id=data.asset_id, starts_at=data.starts_at, ends_at=data.ends_at
    )
    session.add(row)
    session.flush()
    return row


def campaign_assets(session: Session, *, campaign_id: str) -> list[CampaignAsset]:
    stmt = select(CampaignAsset).where(CampaignAsset.campaign_id == campaign_id)
    return list(session.exec(stmt.order_by(col(CampaignAsset.starts_at), col(CampaignAsset.id))).all())


def add_spots(session: Session, *, campaign: Campaign, spots: Sequence[AdSpotCreate]) -> int:
    if campaign.rule != "digital_spots":
        raise InvalidInputError(field="spots", reason="ad spots only apply to the digital_spots rule")
    for i, s in enumerate(spots):
        _ref(session, Asset, s.asset_id, f"spots[{i}].asset_id")
    session.add_all(
        AdSpot(campaign_id=campaign.id, asset_id=s.asset_id, starts_at=s.starts_at, ends_at=s.ends_at)
        for s in spots
    )
    session.flush()
    return len(spots)


def count_spots(session: Session, *, campaign_id: str) -> int:
    return int(session.exec(select(func.count()).where(AdSpot.campaign_id == campaign_id)).one())


# ---- zones --------------------------------------------------------------------------------------


def add_zone(session: Session, *, campaign: Campaign, data: ExposureZoneCreate) -> ExposureZone:
    try:
        zone = parse_zone(data.id, data.geometry)
    except ZoneError as e:
        raise InvalidInputError(field=f"geometry{e.path.removeprefix('$')}", reason=e.reason) from e
    existing = zones_of(session, campaign_id=campaign.id)
    if any(z.id == data.id for z in existing):
        raise AlreadyExistsError("zone", data.id)
    row = ExposureZone(
        id=data.id,
        campaign_id=campaign.id,
        name=data.name,
        position=max((z.position for z in existing), default=-1) + 1,
        geometry=zone_to_geojson(zone),
    )
    session.add(row)
    session.flush()
    return row


def zones_of(session: Session, *, campaign_id: str) -> list[ExposureZone]:
    stmt = select(ExposureZone).where(ExposureZone.campaign_id == campaign_id)
    return list(session.exec(stmt.order_by(col(ExposureZone.position))).all())


def delete_zone(session: Session, *, campaign: Campaign, zone_id: str) -> None:
    row = session.exec(
        select(ExposureZone).where(ExposureZone.campaign_id == campaign.id, ExposureZone.id == zone_id)
    ).first()
    if row is None:
        raise NotFoundError("zone", zone_id)
    session.delete(row)
    session.flush()


# ---- device history -----------------------------------------------------------------------------


def mount(session: Session, *, data: DeviceHistoryCreate) -> DeviceHistory:
    """Record that a sensor sits on an asset from `mounted_at`.

    A still-open mount of the same device that began earlier is closed at the new `mounted_at`
    (moving a sensor is one call); any other overlap is refused.
    """
    _ref(session, Asset, data.asset_id, "asset_id")
    rows = session.exec(
        select(DeviceHistory)
        .where(DeviceHistory.device_id == data.device_id)
        .order_by(col(DeviceHistory.mounted_at))
        .with_for_update()
    ).all()
    new_end = data.unmounted_at
    for r in rows:
        if r.unmounted_at is None and r.mounted_at < data.mounted_at:
            r.unmounted_at = data.mounted_at
            session.add(r)
            continue
        r_end = r.unmounted_at
        if (new_end is None or r.mounted_at < new_end) and (r_end is None or data.mounted_at < r_end):
            raise OverlapError(device_id=data.device_id, other_id=r.id or 0)
    row = DeviceHistory(**data.model_dump())
    session.add(row)
    session.flush()
    return row


def device_history(
    session: Session, *, device_id: str | None = None, asset_id: str | None = None, offset: int, limit: int
) -> tuple[list[DeviceHistory], int]:
    stmt = select(DeviceHistory)
    if device_id is not None:
        stmt = stmt.where(DeviceHistory.device_id == device_id)
    if asset_id is not None:
        stmt = stmt.where(DeviceHistory.asset_id == asset_id)
    return _page(session, stmt, (col(DeviceHistory.mounted_at), col(DeviceHistory.id)), offset, limit)


# ---- shipments ----------------------------------------------------------------------------------

_NEXT: dict[str, set[str]] = {
    ShipmentStatus.SENT: {ShipmentStatus.RECEIVED, ShipmentStatus.RETURNED},
    ShipmentStatus.RECEIVED: {ShipmentStatus.INSTALLED, ShipmentStatus.RETURNED},
    ShipmentStatus.INSTALLED: {ShipmentStatus.RETURNED},
    ShipmentStatus.RETURNED: set(),
}


def create_shipment(session: Session, *, data: ShipmentCreate) -> Shipment:
    _ref(session, Tenant, data.partner_id, "partner_id")
    row = Shipment(**data.model_dump(), status=ShipmentStatus.SENT)
    session.add(row)
    session.flush()
    return row


def get_shipment(session: Session, *, shipment_id: int) -> Shipment:
    row = session.get(Shipment, shipment_id)
    if row is None:
        raise NotFoundError("shipment", str(shipment_id))
    return row


def advance_shipment(session: Session, *, shipment: Shipment, patch: ShipmentUpdate) -> Shipment:
    if patch.status not in _NEXT[shipment.status]:
        raise InvalidStateChangeError(
            device_id=shipment.device_id, from_state=shipment.status, to_state=patch.status
        )
    shipment.status = patch.status
    setattr(shipment, f"{patch.status.value}_at", patch.at)
    session.add(shipment)
    session.flush()
    return shipment


def list_shipments(
    session: Session, *, device_id: str | None = None, offset: int, limit: int
) -> tuple[list[Shipment], int]:
    stmt = select(Shipment)
    if device_id is not None:
        stmt = stmt.where(Shipment.device_id == device_id)
    return _page(session, stmt, col(Shipment.id), offset, limit)


# ---- infrastructure -----------------------------------------------------------------------------


def add_infrastructure(session: Session, *, data: InfrastructureHidCreate) -> InfrastructureHid:
    row = session.get(InfrastructureHid, data.hid)
    if row is None:
        row = InfrastructureHid(hid=data.hid, note=data.note)
        session.add(row)
        session.flush()
    return row
