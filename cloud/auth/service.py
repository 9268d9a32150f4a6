"""Creating, checking and revoking API tokens: ops tokens (read/write) and tenant keys.

A tenant key (scope "tenant") carries its tenant and scopes such as "reports:read"; it opens only
the advertisers' API (`authenticate_tenant`) and never the ops API (`authenticate` refuses it).
Ops tokens with read scope may use the advertisers' API as Mobilytics staff: they see every tenant.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from cloud.auth.models import ApiToken, Scope, TenantScope
from cloud.core.security import display_prefix, new_token, token_hash
from cloud.exceptions import AuthError


def create_token(session: Session, *, name: str, scope: Scope, now: datetime) -> tuple[ApiToken, str]:
    """A new token row and the token itself (returned once, never stored)."""
    token = new_token()
    row = ApiToken(
        name=name, token_hash=token_hash(token), prefix=display_prefix(token), scope=scope, created_at=now
    )
    session.add(row)
    session.flush()
    return row, token


def _lookup(session: Session, token: str | None) -> ApiToken:
    if not token:
        raise AuthError(status=401, reason="missing bearer token: send 'Authorization: Bearer <token>'")
    digest = token_hash(token)
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise AuthError(status=401, reason="unknown token")
    if row.revoked_at is not None:
        raise AuthError(status=401, reason=f"token {row.prefix}… was revoked at {row.revoked_at.isoformat()}")
    return row


def _touch(session: Session, row: ApiToken, now: datetime) -> None:
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now  # coarse, so reads do not turn into a write each
        session.add(row)
        session.commit()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls the advertisers' API: a tenant, or Mobilytics staff (`tenant_id` None) seeing all."""

    tenant_id: str | None
    key_prefix: str


def create_tenant_key(
    session: Session, *, tenant_id: str, name: str, scopes: set[TenantScope], now: datetime
) -> tuple[ApiToken, str]:
    """A new key for a tenant and the key itself (returned once; only its SHA-256 is stored)."""
    token = new_token()
    row = ApiToken(
        name=name,
        token_hash=token_hash(token),
        prefix=display_prefix(token),
        scope=Scope.TENANT,
        tenant_id=tenant_id,
        scopes=" ".join(sorted(scopes)),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, token


def authenticate_tenant(
    session: Session, token: str | None, *, need: TenantScope, now: datetime
) -> Principal:
    """The caller of the advertisers' API; 401 for no/unknown/revoked keys, 403 for a missing scope."""
    row = _lookup(session, token)
    if row.scope == Scope.TENANT:
        if need not in row.scopes.split():
            raise AuthError(status=403, reason=f"key {row.prefix}… lacks scope '{need}'")
        principal = Principal(tenant_id=row.tenant_id, key_prefix=row.prefix)
    else:
        principal = Principal(tenant_id=None, key_prefix=row.prefix)  # ops token: staff
    _touch(session, row, now)
    return principal


def authenticate(session: Session, token: str | None, *, need: Scope, now: datetime) -> ApiToken:
    """The token's row if it may do `need`; AuthError(401) for no/unknown/revoked token, (403) for scope."""
    row = _lookup(session, token)
    if row.scope == Scope.TENANT:
        raise AuthError(
            status=403, reason=f"token {row.prefix}… is a tenant key; it opens only /v1 (advertisers)"
        )
    if need == Scope.WRITE and row.scope != Scope.WRITE:
        raise AuthError(status=403, reason=f"token {row.prefix}… has scope '{row.scope}'; this needs 'write'")
    _touch(session, row, now)
    return row


def revoke(session: Session, *, prefix: str, now: datetime) -> int:
    rows = session.exec(
        select(ApiToken).where(col(ApiToken.prefix) == prefix, col(ApiToken.revoked_at).is_(None))
    )
    n = 0
    for row in rows:
        row.revoked_at = now
        session.add(row)
        n += 1
    return n
