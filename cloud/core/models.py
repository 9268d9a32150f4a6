"""Every table of the control plane, imported in one place for migrations and `create_all` in tests."""

from cloud.analytics.sql import tables as analytics_tables
from cloud.auth.models import ApiToken, OpsSession, OpsUser
from cloud.billing.models import BillingEvent, CampaignBilling, CatalogPrice, SeatSubscription, UsageReport
from cloud.bluezoo.models import BlueZooCursor, BlueZooSensor
from cloud.campaigns.models import (
    AdSpot,
    Asset,
    Campaign,
    CampaignAsset,
    CampaignStateChange,
    DeviceHistory,
    ExposureZone,
    InfrastructureHid,
    Shipment,
    Tenant,
)
from cloud.exports.models import PartnerExport
from cloud.identity.models import DeviceCredential, EnrollmentEvent, EnrollmentToken
from cloud.ingest.models import DeadLetter, TelemetryBatch, TelemetryGap, TelemetryStream, observation
from cloud.registry.models import Device, HeartbeatSample, StatusChange
from cloud.releases.models import OtaRoot, Release
from cloud.rollouts.models import Deployment, Job, JobEvent
from cloud.shadow.models import ConfigShadow

__all__ = [
    "AdSpot",
    "ApiToken",
    "Asset",
    "BillingEvent",
    "BlueZooCursor",
    "BlueZooSensor",
    "Campaign",
    "CampaignAsset",
    "CampaignBilling",
    "CampaignStateChange",
    "CatalogPrice",
    "ConfigShadow",
    "DeadLetter",
    "Deployment",
    "Device",
    "DeviceCredential",
    "DeviceHistory",
    "EnrollmentEvent",
    "EnrollmentToken",
    "ExposureZone",
    "HeartbeatSample",
    "InfrastructureHid",
    "Job",
    "JobEvent",
    "OpsSession",
    "OpsUser",
    "OtaRoot",
    "PartnerExport",
    "Release",
    "SeatSubscription",
    "Shipment",
    "StatusChange",
    "TelemetryBatch",
    "TelemetryGap",
    "TelemetryStream",
    "Tenant",
    "UsageReport",
    "analytics_tables",
    "observation",
]
