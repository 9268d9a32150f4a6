"""Tables and API shapes of the campaign world (MISSION §4), one family per resource.

    Tenant (advertiser | agency | media_operator)
    Asset  -< CampaignAsset >- Campaign -< ExposureZone, AdSpot
    Device -< DeviceHistory >- Asset;  Device -< Shipment
    InfrastructureHid: hashed ids of fixed MACs (routers, kiosks) never counted as audience

Times are aware UTC datetimes in the database; the API accepts any explicit offset and refuses
naive datetimes (`AwareDatetime`). Windows are half-open: [starts_at, ends_at).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AwareDatetime, StringConstraints, field_validator, model_validator
from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from cloud.core.types import JSONDoc, UTCDateTime

T = TypeVar("T")
ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
IdStr = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=64)]
DeviceIdStr = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
HidStr = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]


class TenantKind(enum.StrEnum):
    ADVERTISER = "advertiser"
    AGENCY = "agency"
    MEDIA_OPERATOR = "media_operator"


class AssetKind(enum.StrEnum):
    VEHICLE = "vehicle"
    BILLBOARD = "billboard"
    SCREEN = "screen"


class ImpressionRuleName(enum.StrEnum):
    DEDUP_WINDOW = "dedup_window"
    STATIC_OTS = "static_ots"
    DIGITAL_SPOTS = "digital_spots"


class CampaignState(enum.StrEnum):
    """draft -> active only when paid (billing) -> paused on a failed payment or an ended
    subscription -> active again when paid. A payment failing before the first one succeeded leaves
    the campaign draft (it never ran) with the reason set."""

    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"


class ShipmentStatus(enum.StrEnum):
    SENT = "sent"
    RECEIVED = "received"
    INSTALLED = "installed"
    RETURNED = "returned"


def _dt(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


def _valid_tz(tz: str) -> str:
    import time

    from cloud.analytics.exceptions import TimeZoneError
    from cloud.analytics.grains import Grain, local_start, quarter_of

    try:  # known, and today's offset on the 15-minute grid (reports are built from 15-min grains)
        local_start(quarter_of(int(time.time() * 1000)), Grain.QUARTER, tz)
    except TimeZoneError as e:
        raise ValueError(e.reason) from e
    return tz


def _window_ok(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise ValueError("ends_at must be after starts_at")


class Page(SQLModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


# ---- tenants ------------------------------------------------------------------------------------


class TenantBase(SQLModel):
    name: str = Field(min_length=1, max_length=128)
    kind: TenantKind


class Tenant(TenantBase, table=True):
    __tablename__ = "tenant"
    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)
    created_at: datetime = _dt()


class TenantCreate(TenantBase):
    id: IdStr


class TenantPublic(TenantBase):
    id: str
    created_at: datetime


# ---- assets -------------------------------------------------------------------------------------


class AssetBase(SQLModel):
    name: str = Field(min_length=1, max_length=128)
    kind: AssetKind
    operator_id: str | None = Field(default=None, max_length=64, foreign_key="tenant.id")


class Asset(AssetBase, table=True):
    __tablename__ = "asset"
    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)
    created_at: datetime = _dt()


class AssetCreate(AssetBase):
    id: IdStr


class AssetUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    operator_id: str | None = None


class AssetPublic(AssetBase):
    id: str
    created_at: datetime


# ---- campaigns ----------------------------------------------------------------------------------


class CampaignBase(SQLModel):
    name: str = Field(min_length=1, max_length=128)
    advertiser_id: str = Field(max_length=64, foreign_key="tenant.id")
    agency_id: str | None = Field(default=None, max_length=64, foreign_key="tenant.id")
    rule: ImpressionRuleName = ImpressionRuleName.DEDUP_WINDOW
    exposure_rssi: int = Field(default=-70, ge=-127, le=0)
    passerby_rssi: int = Field(default=-85, ge=-127, le=0)
    dedup_window_s: int = Field(default=900, ge=1, le=86_400)
    session_gap_s: int = Field(default=300, ge=1, le=3_600)
    visitor_dwell_s: int = Field(default=120, ge=0, le=86_400)
    engaged_dwell_s: int = Field(default=600, ge=0, le=86_400)
    k: int = Field(default=5, ge=1, le=1000, description="k-anonymity: no cell under k devices")
    crew_fraction: float = Field(default=0.8, gt=0, le=1)
    timezone: str = Field(default="UTC", max_length=64, description="default IANA zone of its reports")


class Campaign(CampaignBase, table=True):
    __tablename__ = "campaign"
    __table_args__ = (
        Index("ix_campaign_advertiser", "advertiser_id"),
        Index("ix_campaign_agency", "agency_id"),
    )
    id: str = Field(primary_key=True, max_length=64)
    rule: str = Field(default=ImpressionRuleName.DEDUP_WINDOW, max_length=16)
    state: str = Field(default=CampaignState.DRAFT, max_length=16)
    state_reason: str | None = Field(default=None, max_length=512)
    created_at: datetime = _dt()


class CampaignStateChange(SQLModel, table=True):
    """Every change of a campaign's state, in order: which UTC days it was active (billing)."""

    __tablename__ = "campaign_state_change"
    __table_args__ = (Index("ix_campaign_state_change_campaign_at", "campaign_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=64, foreign_key="campaign.id")
    state: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=512)
    at: datetime = _dt()


class CampaignCreate(CampaignBase):
    id: IdStr

    @model_validator(mode="after")
    def _thresholds(self) -> CampaignCreate:
        if self.passerby_rssi > self.exposure_rssi:
            raise ValueError("passerby_rssi must not be above exposure_rssi")
        if self.visitor_dwell_s > self.engaged_dwell_s:
            raise ValueError("visitor_dwell_s must not exceed engaged_dwell_s")
        return self

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return _valid_tz(v)


class CampaignUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    agency_id: str | None = None
    k: int | None = Field(default=None, ge=1, le=1000)
    timezone: str | None = Field(default=None, max_length=64)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return None if v is None else _valid_tz(v)


class CampaignPublic(CampaignBase):
    id: str
    state: CampaignState
    state_reason: str | None
    created_at: datetime


# ---- campaign windows on assets -----------------------------------------------------------------


class CampaignAsset(SQLModel, table=True):
    """The asset runs the campaign during [starts_at, ends_at)."""

    __tablename__ = "campaign_asset"
    __table_args__ = (Index("ix_campaign_asset_asset", "asset_id", "starts_at"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=64, foreign_key="campaign.id")
    asset_id: str = Field(max_length=64, foreign_key="asset.id")
    starts_at: datetime = _dt()
    ends_at: datetime = _dt()


class CampaignAssetCreate(SQLModel):
    asset_id: str = Field(max_length=64)
    starts_at: AwareDatetime
    ends_at: AwareDatetime

    @model_validator(mode="after")
    def _window(self) -> CampaignAssetCreate:
        _window_ok(self.starts_at, self.ends_at)
        return self


class CampaignAssetPublic(SQLModel):
    id: int
    campaign_id: str
    asset_id: str
    starts_at: datetime
    ends_at: datetime


# ---- ad spots (digital screens) -----------------------------------------------------------------


class AdSpot(SQLModel, table=True):
    """An ad spot of the campaign shown on a digital asset during [starts_at, ends_at)."""

    __tablename__ = "ad_spot"
    __table_args__ = (Index("ix_ad_spot_campaign_asset", "campaign_id", "asset_id", "starts_at"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=64, foreign_key="campaign.id")
    asset_id: str = Field(max_length=64, foreign_key="asset.id")
    starts_at: datetime = _dt()
    ends_at: datetime = _dt()


class AdSpotCreate(CampaignAssetCreate):
    pass


# ---- exposure zones -----------------------------------------------------------------------------


class ExposureZone(SQLModel, table=True):
    """A geofence of a campaign; the first listed zone (by `position`) holding a point wins."""

    __tablename__ = "exposure_zone"
    __table_args__ = (UniqueConstraint("campaign_id", "id"),)
    pk: int | None = Field(default=None, primary_key=True)
    id: str = Field(max_length=64)
    campaign_id: str = Field(max_length=64, foreign_key="campaign.id")
    name: str = Field(max_length=128)
    position: int = 0
    geometry: dict[str, Any] = Field(sa_type=JSONDoc)


class ExposureZoneCreate(SQLModel):
    id: IdStr
    name: str = Field(default="", max_length=128)
    geometry: dict[str, Any] = Field(
        description="GeoJSON Polygon, MultiPolygon, or a Feature of one; [longitude, latitude]",
        schema_extra={
            "examples": [
                {
                    "type": "Polygon",
                    "coordinates": [
                        [[16.008, 48.9995], [16.014, 48.9995], [16.014, 49.0005], [16.008, 48.9995]]
                    ],
                }
            ]
        },
    )


class ExposureZonePublic(SQLModel):
    id: str
    campaign_id: str
    name: str
    position: int
    geometry: dict[str, Any] = Field(description="GeoJSON MultiPolygon (normalized, closed rings)")


# ---- device history (mounts) --------------------------------------------------------------------


class DeviceHistory(SQLModel, table=True):
    """Which sensor was mounted on which asset, [mounted_at, unmounted_at); None = still there."""

    __tablename__ = "device_history"
    __table_args__ = (Index("ix_device_history_device", "device_id", "mounted_at"),)
    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(max_length=64)
    asset_id: str = Field(max_length=64, foreign_key="asset.id")
    mounted_at: datetime = _dt()
    unmounted_at: datetime | None = _dt(default=None)


class DeviceHistoryCreate(SQLModel):
    device_id: DeviceIdStr
    asset_id: str = Field(max_length=64)
    mounted_at: AwareDatetime
    unmounted_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _window(self) -> DeviceHistoryCreate:
        _window_ok(self.mounted_at, self.unmounted_at)
        return self


class DeviceHistoryPublic(SQLModel):
    id: int
    device_id: str
    asset_id: str
    mounted_at: datetime
    unmounted_at: datetime | None


# ---- shipments ----------------------------------------------------------------------------------


class Shipment(SQLModel, table=True):
    """A device sent to a partner: sent -> received -> installed (or returned)."""

    __tablename__ = "shipment"
    __table_args__ = (Index("ix_shipment_device", "device_id"),)
    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(max_length=64)
    partner_id: str = Field(max_length=64, foreign_key="tenant.id")
    status: str = Field(max_length=16)
    tracking: str = Field(default="", max_length=128)
    sent_at: datetime = _dt()
    received_at: datetime | None = _dt(default=None)
    installed_at: datetime | None = _dt(default=None)
    returned_at: datetime | None = _dt(default=None)


class ShipmentCreate(SQLModel):
    device_id: DeviceIdStr
    partner_id: str = Field(max_length=64)
    tracking: str = Field(default="", max_length=128)
    sent_at: AwareDatetime


class ShipmentUpdate(SQLModel):
    status: ShipmentStatus
    at: AwareDatetime


class ShipmentPublic(SQLModel):
    id: int
    device_id: str
    partner_id: str
    status: ShipmentStatus
    tracking: str
    sent_at: datetime
    received_at: datetime | None
    installed_at: datetime | None
    returned_at: datetime | None


# ---- infrastructure ----------------------------------------------------------------------------


class InfrastructureHid(SQLModel, table=True):
    """A hashed id of a fixed MAC (router, gateway): dropped before any metric."""

    __tablename__ = "infrastructure_hid"
    hid: str = Field(primary_key=True, max_length=16)
    note: str = Field(default="", max_length=128)


class InfrastructureHidCreate(SQLModel):
    hid: HidStr
    note: str = Field(default="", max_length=128)
