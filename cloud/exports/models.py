"""The export record: one row per (partner, campaign, segment, period), whatever happened to it.

`upload_state` holds the multipart uploads in flight ({object key: {upload_id, sha256, parts:
{n: etag}}}), committed after every part: a crashed export resumes from it instead of starting
over, and the completed objects' checksums ({key: sha256}) let a re-run skip what is already there.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from cloud.core.types import JSONDoc, UTCDateTime


class Partner(enum.StrEnum):
    MOGEAN = "mogean"  # retargeting segments
    SPOTZI = "spotzi"  # aggregated impressions by zone and hour


class ExportStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"  # every object and the manifest are in S3
    WITHHELD = "withheld"  # nothing exported on purpose (`reason`: too few ids, all cells under k)
    FAILED = "failed"  # S3 refused (`reason`: the S3 error code and message)
    CONFIRMED = "confirmed"  # the partner's callback says it ingested the export
    REJECTED = "rejected"  # the partner's callback says it could not


class PartnerExport(SQLModel, table=True):
    __tablename__ = "partner_export"

    id: int | None = Field(default=None, primary_key=True)
    export_key: str = Field(max_length=255, unique=True)  # partner/campaign/segment/period
    partner: str = Field(max_length=16)
    campaign_id: str = Field(max_length=64, index=True)
    segment: str = Field(max_length=64)
    period: str = Field(max_length=32)
    status: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=1024)
    schema_version: str = Field(max_length=32)
    objects: dict[str, str] = Field(default_factory=dict, sa_type=JSONDoc)  # object key -> sha256
    manifest_key: str | None = Field(default=None, max_length=512)
    row_count: int = Field(default=0, sa_type=BigInteger)
    upload_state: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    attempts: int = 0
    partner_detail: str | None = Field(default=None, max_length=1024)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PartnerExportPublic(SQLModel):
    id: int
    partner: str
    campaign_id: str
    segment: str
    period: str
    status: str
    reason: str | None
    schema_version: str
    objects: dict[str, str]
    manifest_key: str | None
    row_count: int
    attempts: int
    partner_detail: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    confirmed_at: datetime | None
