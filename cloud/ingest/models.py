"""Telemetry rows: observations, the batches that carried them, the gaps between, dead letters.

Exactly-once is decided per batch, never per row: `TelemetryBatch` has the key (device, boot,
batch) and a redelivered batch is a conflict on it. Observations carry no index on purpose
(MISSION §10: one extra index costs COPY two thirds of its speed); analytics rolls them up.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, SmallInteger, String, Table
from sqlmodel import Field, SQLModel

from cloud.core.types import UTCDateTime

# A Core table: no primary key (rows are deduplicated per batch), written with COPY.
observation = Table(
    "observation",
    SQLModel.metadata,
    Column("device_id", String(64), nullable=False),
    Column("boot", String(64), nullable=False),
    Column("batch", BigInteger, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),  # unix ms: t0 + dt of the batch
    Column("kind", String(8), nullable=False),
    Column("hid", String(64), nullable=False),
    Column("rssi", SmallInteger, nullable=False),
    Column("flags", Integer, nullable=False),
    Column("lat_e6", Integer, nullable=True),
    Column("lon_e6", Integer, nullable=True),
)

OBSERVATION_COLUMNS = tuple(c.name for c in observation.columns)


class TelemetryBatch(SQLModel, table=True):
    """One received batch: its key is the exactly-once key."""

    __tablename__ = "telemetry_batch"
    __table_args__ = (Index("ix_telemetry_batch_device_t0", "device_id", "t0_ms"),)

    device_id: str = Field(primary_key=True, max_length=64)
    boot: str = Field(primary_key=True, max_length=64)
    batch: int = Field(primary_key=True, sa_type=BigInteger)
    seq: int = Field(sa_type=BigInteger)
    t0_ms: int = Field(sa_type=BigInteger)
    n_obs: int
    received_at: datetime = Field(sa_type=UTCDateTime)


class TelemetryStream(SQLModel, table=True):
    """The batch sequence of one boot of one device: its high-water mark."""

    __tablename__ = "telemetry_stream"

    device_id: str = Field(primary_key=True, max_length=64)
    boot: str = Field(primary_key=True, max_length=64)
    max_batch: int = Field(sa_type=BigInteger)
    max_t0_ms: int = Field(sa_type=BigInteger)
    received: int = 0
    duplicates: int = 0
    started_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class TelemetryGap(SQLModel, table=True):
    """Missing batches first..last (inclusive) of one boot; closed when late batches fill it.

    A late batch inside the range narrows it or splits it in two; `t_from_ms`/`t_to_ms` are the t0
    of the received neighbours, so a gap can be placed in time for completeness figures.
    """

    __tablename__ = "telemetry_gap"
    __table_args__ = (Index("ix_telemetry_gap_device_open", "device_id", "closed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(max_length=64)
    boot: str = Field(max_length=64)
    first_batch: int = Field(sa_type=BigInteger)
    last_batch: int = Field(sa_type=BigInteger)
    t_from_ms: int = Field(sa_type=BigInteger)
    t_to_ms: int = Field(sa_type=BigInteger)
    opened_at: datetime = Field(sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def missing(self) -> int:
        return 0 if self.closed_at is not None else self.last_batch - self.first_batch + 1


class TelemetryGapPublic(SQLModel):
    id: int
    boot: str
    first_batch: int
    last_batch: int
    missing: int
    t_from_ms: int
    t_to_ms: int
    opened_at: datetime
    closed_at: datetime | None


class Completeness(SQLModel):
    device_id: str
    since: datetime
    until: datetime
    received: int
    missing: int
    expected: int
    completeness: float | None


class DeadLetter(SQLModel, table=True):
    """A message the bridge could not accept, kept byte for byte with the reason."""

    __tablename__ = "dead_letter"
    __table_args__ = (Index("ix_dead_letter_received_at", "received_at"),)

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=512)
    payload: bytes = Field(sa_type=LargeBinary)
    reason: str = Field(max_length=64)
    detail: str = Field(default="", max_length=1024)
    device_id: str | None = Field(default=None, max_length=64)
    received_at: datetime = Field(sa_type=UTCDateTime)


class DeadLetterPublic(SQLModel):
    id: int
    topic: str
    reason: str
    detail: str
    device_id: str | None
    received_at: datetime
    size: int
    payload_preview: str
