"""The device registry: one row per device, with its lifecycle state and last presence facts.

Two different words, kept apart on purpose:

* ``state`` is the lifecycle ops decide (provisioned, active, quarantined, retired);
* ``status`` is presence the evidence decides (unknown, online, offline, sleeping), see
  `cloud/presence/RULES.md`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

from pydantic import StringConstraints
from sqlalchemy import BigInteger, Index, Integer, String
from sqlmodel import Field, SQLModel

from cloud.core.types import JSONDoc, UTCDateTime


class HardwareKind(enum.StrEnum):
    ESP32 = "esp32"
    RPI = "rpi"
    THIRD_PARTY = "third-party"


class DeviceState(enum.StrEnum):
    PROVISIONED = "provisioned"
    ACTIVE = "active"
    QUARANTINED = "quarantined"
    RETIRED = "retired"


class PresenceStatus(enum.StrEnum):
    UNKNOWN = "unknown"
    ONLINE = "online"
    OFFLINE = "offline"
    SLEEPING = "sleeping"


# Label keys as Kubernetes writes them (letters, digits, `._/-`, alphanumeric at both ends): safe as
# a JSON path on SQLite and a JSONB key on PostgreSQL, so the list filter runs in SQL on both.
LABEL_KEY = r"[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?"
LABEL_FILTER = f"^{LABEL_KEY}(=.*)?$"  # `key` or `key=value`
Labels = dict[
    Annotated[str, StringConstraints(pattern=f"^{LABEL_KEY}$")],
    Annotated[str, StringConstraints(max_length=128)],
]


def _dt(**kw: Any) -> Any:
    return Field(default=None, sa_type=UTCDateTime, **kw)


class DeviceBase(SQLModel):
    serial: str | None = Field(default=None, max_length=64)
    hardware: str | None = Field(default=None, max_length=32)
    tenant: str | None = Field(default=None, max_length=64)
    labels: dict[str, str] = Field(default_factory=dict, sa_type=JSONDoc)
    # Daily windows (UTC) the device is expected to be away, e.g. ["22:00-06:00"]: shown as "sleeping".
    sleep_schedule: list[str] = Field(default_factory=list, sa_type=JSONDoc)


class Device(DeviceBase, table=True):
    __tablename__ = "device"
    __table_args__ = (
        Index("ix_device_status", "status"),
        Index("ix_device_state", "state"),
        Index("ix_device_heartbeat_deadline", "heartbeat_deadline"),
    )

    id: str = Field(primary_key=True, max_length=64)
    state: str = Field(default=DeviceState.ACTIVE, max_length=16)
    firmware_version: str | None = Field(default=None, max_length=64)
    agent_version: str | None = Field(default=None, max_length=64)
    capabilities: list[str] = Field(default_factory=list, sa_type=JSONDoc)

    # Presence, decided by cloud/presence/rules.py from the evidence below.
    status: str = Field(default=PresenceStatus.UNKNOWN, max_length=16)
    status_reason: str | None = Field(default=None, max_length=32)
    status_since: datetime | None = _dt()
    # The current boot and the connection inside it (seq of its birth), to order Last Wills.
    boot: str | None = Field(default=None, max_length=64)
    boot_ts: datetime | None = _dt()
    conn_floor: int | None = Field(default=None, sa_type=BigInteger)
    last_seq: int | None = Field(default=None, sa_type=BigInteger)
    connected: bool = False
    last_seen: datetime | None = _dt()
    last_heartbeat_at: datetime | None = _dt()
    # last_heartbeat_at + timeout: the sweeper's index, so it never scans healthy devices.
    heartbeat_deadline: datetime | None = _dt()
    heartbeat_interval_s: float | None = None
    # Declared absence: the device said it sleeps until then.
    sleep_until: datetime | None = _dt()
    # Flap damping (see RULES.md): a decaying score of recent transitions.
    flap_score: float = 0.0
    flap_score_at: datetime | None = _dt()
    flapping: bool = False
    # Evidence of life while an online transition is held back by flap damping.
    online_pending_since: datetime | None = _dt()

    # Latest heartbeat health, as the device sent it (uptime_s, rssi, free_mem, ...).
    health: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    heartbeats: int = 0
    telemetry_batches: int = 0
    observations: int = Field(default=0, sa_type=BigInteger)
    created_at: datetime | None = _dt()


class DevicePublic(DeviceBase):
    id: str
    state: str
    firmware_version: str | None
    agent_version: str | None
    capabilities: list[str]
    status: str
    status_reason: str | None
    status_since: datetime | None
    boot: str | None
    connected: bool
    last_seen: datetime | None
    last_heartbeat_at: datetime | None
    heartbeat_interval_s: float | None
    heartbeat_overdue: bool = False
    sleep_until: datetime | None
    flapping: bool
    health: dict[str, Any]
    heartbeats: int
    telemetry_batches: int
    observations: int
    created_at: datetime | None


class DeviceCreate(DeviceBase):
    id: str = Field(min_length=1, max_length=64, regex=r"^[A-Za-z0-9_-]+$")
    state: DeviceState = DeviceState.PROVISIONED
    labels: Labels = Field(default_factory=dict)


class DeviceUpdate(SQLModel):
    """What ops may change on a device; every field optional (PATCH)."""

    state: DeviceState | None = None
    tenant: str | None = None
    labels: Labels | None = None
    sleep_schedule: list[str] | None = None
    serial: str | None = None


class DevicesPage(SQLModel):
    items: list[DevicePublic]
    total: int
    offset: int
    limit: int


class StatusChange(SQLModel, table=True):
    """One presence transition, with the evidence that caused it."""

    __tablename__ = "device_status_change"
    __table_args__ = (Index("ix_status_change_device_at", "device_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(sa_type=String(64), foreign_key="device.id")
    at: datetime = Field(sa_type=UTCDateTime)
    from_status: str = Field(max_length=16)
    to_status: str = Field(max_length=16)
    reason: str = Field(max_length=32)
    boot: str | None = Field(default=None, max_length=64)
    seq: int | None = Field(default=None, sa_type=BigInteger)


class StatusChangePublic(SQLModel):
    at: datetime
    from_status: str
    to_status: str
    reason: str
    boot: str | None
    seq: int | None


class HeartbeatSample(SQLModel, table=True):
    """One heartbeat as received: when, how late against the device's clock, and its health.

    The device row keeps only the latest heartbeat; these rows are the history the device page draws.
    Written by the bridge in its flush transaction, pruned by the sweeper (`cloud/registry/heartbeats.py`).
    """

    __tablename__ = "heartbeat_sample"
    __table_args__ = (
        Index("ix_heartbeat_sample_device_received", "device_id", "received_at"),
        Index("ix_heartbeat_sample_received", "received_at"),  # the retention prune
    )

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(sa_type=String(64), foreign_key="device.id")
    received_at: datetime = Field(sa_type=UTCDateTime)
    device_ts: datetime = Field(sa_type=UTCDateTime)
    lag_s: float  # received_at - device_ts: transit and queueing, plus any clock skew
    uptime_s: int | None = Field(default=None, sa_type=BigInteger)
    rssi: int | None = Field(default=None, sa_type=Integer)
    free_mem: int | None = Field(default=None, sa_type=BigInteger)
    free_disk: int | None = Field(default=None, sa_type=BigInteger)
    outbox: int | None = Field(default=None, sa_type=Integer)
    dropped: int | None = Field(default=None, sa_type=Integer)
    temp_dc: int | None = Field(default=None, sa_type=Integer)
    load_x100: int | None = Field(default=None, sa_type=Integer)
