"""The config shadow: what ops want a device to run (desired) and what it says it runs (reported)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from cloud.core.types import JSONDoc, UTCDateTime


class ConfigShadow(SQLModel, table=True):
    __tablename__ = "config_shadow"

    device_id: str = Field(primary_key=True, foreign_key="device.id", max_length=64)
    desired: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    desired_version: int = 0
    desired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The desired version last published (retained) to the broker: an outbox, so a failed publish
    # is retried by any replica's sweeper.
    published_version: int = 0
    reported: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    reported_version: int = 0
    reported_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DesiredConfigIn(SQLModel):
    config: dict[str, Any]


class ShadowPublic(SQLModel):
    device_id: str
    desired: dict[str, Any]
    desired_version: int
    desired_at: datetime | None
    reported: dict[str, Any]
    reported_version: int
    reported_at: datetime | None
    delta: dict[str, Any]
    in_sync: bool
