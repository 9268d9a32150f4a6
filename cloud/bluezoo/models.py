"""The adapter's own state: where the pull stopped, and which of our devices each sensor is."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from cloud.core.types import UTCDateTime


class BlueZooCursor(SQLModel, table=True):
    """The cursor after the last imported page; advanced in the same transaction as its rows."""

    __tablename__ = "bluezoo_cursor"

    source: str = Field(primary_key=True, max_length=255)  # the base URL: one cursor per account
    cursor: str | None = Field(default=None, max_length=1024)
    pages: int = 0
    imported: int = Field(default=0, sa_type=BigInteger)
    rejected: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class BlueZooSensor(SQLModel, table=True):
    """A BlueZoo sensor and our device for it; `next_batch` numbers its telemetry batches."""

    __tablename__ = "bluezoo_sensor"

    sensor_id: str = Field(primary_key=True, max_length=64)
    device_id: str = Field(max_length=64, foreign_key="device.id")
    next_batch: int = Field(default=0, sa_type=BigInteger)
