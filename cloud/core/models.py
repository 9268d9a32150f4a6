"""Every table of the control plane, imported in one place for migrations and `create_all` in tests."""

from cloud.auth.models import ApiToken, OpsSession, OpsUser
from cloud.identity.models import DeviceCredential, EnrollmentEvent, EnrollmentToken
from cloud.ingest.models import DeadLetter, TelemetryBatch, TelemetryGap, TelemetryStream, observation
from cloud.registry.models import Device, StatusChange
from cloud.releases.models import Release
from cloud.rollouts.models import Deployment, Job, JobEvent
from cloud.shadow.models import ConfigShadow

__all__ = [
    "ApiToken",
    "ConfigShadow",
    "DeadLetter",
    "Deployment",
    "Device",
    "DeviceCredential",
    "EnrollmentEvent",
    "EnrollmentToken",
    "Job",
    "JobEvent",
    "OpsSession",
    "OpsUser",
    "Release",
    "StatusChange",
    "TelemetryBatch",
    "TelemetryGap",
    "TelemetryStream",
    "observation",
]
