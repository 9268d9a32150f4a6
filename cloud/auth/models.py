"""API token rows. Only the SHA-256 of a token is stored; the token itself is shown once."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index
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


class OpsUser(SQLModel, table=True):
    """A person who signs in to the fleet UI. Only the scrypt hash of the password is stored."""

    __tablename__ = "ops_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    password_hash: str = Field(max_length=256)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OpsSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds 256 random bits; the row keeps their SHA-256 (as API tokens).

    Sessions live in the database, not in memory or a signed cookie, so any replica can check one,
    sign-out revokes it for real, and no signing secret has to be shared between replicas.
    """

    __tablename__ = "ops_session"
    __table_args__ = (Index("ix_ops_session_expires_at", "expires_at"),)

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="ops_user.id")
    # Sent back in every form (hidden field) and in the X-CSRF-Token header of JS requests.
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
