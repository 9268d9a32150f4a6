"""A release as the cloud keeps it: the signed document's facts, the document itself, and its artifact;
and each root the fleet rotated to since the one in ``Settings.ota_root``.

The cloud never holds a private key: a release arrives already signed (`mobilytics-ota publish`) and
is accepted only when it verifies against the fleet's trusted root, then its artifact only when its
length and sha256 are the signed ones.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from cloud.core.types import UTCDateTime


class ReleaseState(enum.StrEnum):
    AWAITING_ARTIFACT = "awaiting-artifact"
    READY = "ready"


class Release(SQLModel, table=True):
    __tablename__ = "release"
    __table_args__ = (
        UniqueConstraint("hardware", "model", "version", name="uq_release_target_version"),
        Index("ix_release_created_at", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(sa_type=BigInteger)
    hardware: str = Field(max_length=32)
    model: str = Field(max_length=64)
    length: int = Field(sa_type=BigInteger)
    sha256: str = Field(max_length=64)
    expires: datetime = Field(sa_type=UTCDateTime)
    # The signed document exactly as uploaded: devices verify these bytes themselves.
    document: bytes = Field(sa_type=LargeBinary)
    state: str = Field(default=ReleaseState.AWAITING_ARTIFACT, max_length=20)
    artifact_key: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    ready_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ReleasePublic(SQLModel):
    id: int
    version: int
    hardware: str
    model: str
    length: int
    sha256: str
    expires: datetime
    state: str
    created_at: datetime
    ready_at: datetime | None
    artifact_url: str
    metadata_url: str


class OtaRoot(SQLModel, table=True):
    """A root the fleet rotated to, kept beside the release documents: accepted only as the successor
    of the newest one (cloud/releases/roots.py), served to devices walking their roots forward."""

    __tablename__ = "ota_root"

    version: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    expires: datetime = Field(sa_type=UTCDateTime)
    # The signed document exactly as uploaded: devices verify these bytes themselves.
    document: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = Field(sa_type=UTCDateTime)


class OtaRootPublic(SQLModel):
    version: int
    expires: datetime
    created_at: datetime
    url: str
