"""Identity tables: enrollment tokens, their audit trail, and the credentials issued to devices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlmodel import Field, SQLModel

from cloud.core.types import UTCDateTime


class EnrollmentToken(SQLModel, table=True):
    __tablename__ = "enrollment_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    tenant: str = Field(max_length=64)
    hardware: str | None = Field(default=None, max_length=32)
    device_id: str | None = Field(default=None, max_length=64)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    used_by: str | None = Field(default=None, max_length=64)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class EnrollmentEvent(SQLModel, table=True):
    """The audit trail: every mint, claim, refusal and revocation, with who and why."""

    __tablename__ = "enrollment_event"
    __table_args__ = (Index("ix_enrollment_event_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    event: str = Field(max_length=16)  # minted, claimed, refused, revoked
    token_prefix: str | None = Field(default=None, max_length=16)
    tenant: str | None = Field(default=None, max_length=64)
    device_id: str | None = Field(default=None, max_length=64)
    actor: str | None = Field(default=None, max_length=64)  # ops token name, or "device" for a claim
    reason: str | None = Field(default=None, max_length=200)


class DeviceCredential(SQLModel, table=True):
    """One certificate (and its password fallback) issued to a device; revoked rows feed the CRL."""

    __tablename__ = "device_credential"
    __table_args__ = (Index("ix_device_credential_device", "device_id"),)

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(sa_type=String(64), foreign_key="device.id")
    serial: str = Field(max_length=40, unique=True)  # certificate serial, hex
    not_after: datetime = Field(sa_type=UTCDateTime)
    password_hash: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoke_reason: str | None = Field(default=None, max_length=32)


class EnrollmentCreate(SQLModel):
    tenant: str = Field(min_length=1, max_length=64)
    hardware: str | None = Field(default=None, max_length=32)
    device_id: str | None = Field(default=None, max_length=64)
    ttl_s: int = Field(default=86400, ge=1, le=30 * 86400)


class EnrollmentMinted(SQLModel):
    token: str  # shown once
    prefix: str
    tenant: str
    hardware: str | None
    device_id: str | None
    expires_at: datetime


class DeviceRegister(SQLModel):
    token: str = Field(min_length=1, max_length=200)
    device_id: str = Field(min_length=3, max_length=63)
    hardware: str = Field(min_length=1, max_length=32)
    csr: str = Field(min_length=1, max_length=8192)


class CredentialsRotate(SQLModel):
    csr: str = Field(min_length=1, max_length=8192)


class DeviceRegistered(SQLModel):
    device_id: str
    tenant: str | None
    certificate: str
    ca: str
    broker: dict[str, object]
    username: str
    password: str  # shown once; stored as a $7$ hash
