"""API token rows. Only the SHA-256 of a token is stored; the token itself is shown once."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlmodel import Field, SQLModel

from cloud.core.types import UTCDateTime


class Scope(enum.StrEnum):
    READ = "read"
    WRITE = "write"  # implies read
    TENANT = "tenant"  # an advertiser's (or agency's) key: only the advertisers' API, its own data


class TenantScope(enum.StrEnum):
    """What a tenant key may do on the advertisers' API (a key holds one or more)."""

    CAMPAIGNS_READ = "campaigns:read"
    REPORTS_READ = "reports:read"


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    # SHA-256 hex of the whole token. Tokens carry 256 bits of randomness, so a fast hash is
    # enough (no password stretching needed); lookups are by this value.
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)  # shown in listings so ops can tell tokens apart
    scope: str = Field(max_length=8)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Tenant keys (scope "tenant"): the tenant they act for and their scopes, space-separated.
    # NULL / "" on ops tokens, which is what every row of revision 0001 gets.
    tenant_id: str | None = Field(default=None, max_length=64, index=True)
    scopes: str = Field(default="", max_length=256)
