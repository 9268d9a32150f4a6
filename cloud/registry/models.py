"""Device rows: one per device id the fleet has seen."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class DeviceBase(SQLModel):
    id: str = Field(primary_key=True, max_length=64)
    hardware: str | None = None
    version: str | None = None
    status: str = "unknown"
    last_seen: datetime | None = None
    boot: str | None = None
    heartbeats: int = 0
    telemetry_batches: int = 0
    observations: int = 0


class Device(DeviceBase, table=True):
    pass


class DevicePublic(DeviceBase):
    pass
