"""Creating, checking and revoking ops API tokens."""

from __future__ import annotations

import hmac
from datetime import datetime

from sqlmodel import Session, col, select

from cloud.auth.models import ApiToken, Scope
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


def authenticate(session: Session, token: str | None, *, need: Scope, now: datetime) -> ApiToken:
    """The token's row if it may do `need`; AuthError(401) for no/unknown/revoked token, (403) for scope."""
    if not token:
        raise AuthError(status=401, reason="missing bearer token: send 'Authorization: Bearer <token>'")
    digest = token_hash(token)
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise AuthError(status=401, reason="unknown token")
    if row.revoked_at is not None:
        raise AuthError(status=401, reason=f"token {row.prefix}… was revoked at {row.revoked_at.isoformat()}")
    if need == Scope.WRITE and row.scope != Scope.WRITE:
        raise AuthError(status=403, reason=f"token {row.prefix}… has scope '{row.scope}'; this needs 'write'")
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now  # coarse, so reads do not turn into a write each
        session.add(row)
        session.commit()
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
