"""Ops users and their browser sessions: create, sign in, check, sign out. Keyword-only, no HTTP."""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from cloud.auth.models import OpsSession, OpsUser
from cloud.auth.passwords import DUMMY_HASH, MIN_LENGTH, hash_password, verify_password
from cloud.core.security import token_hash
from cloud.exceptions import AuthError, OpsUserError

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
SESSION_TTL = timedelta(hours=12)


def create_user(session: Session, *, username: str, password: str, now: datetime) -> OpsUser:
    if not USERNAME.match(username):
        raise OpsUserError(username=username, reason="names are 1-64 of letters, digits, _ . @ -")
    if len(password) < MIN_LENGTH:
        raise OpsUserError(username=username, reason=f"a password has at least {MIN_LENGTH} characters")
    if session.exec(select(OpsUser).where(OpsUser.username == username)).first() is not None:
        raise OpsUserError(username=username, reason="already exists")
    user = OpsUser(username=username, password_hash=hash_password(password), created_at=now)
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, *, username: str, password: str) -> OpsUser:
    user = session.exec(select(OpsUser).where(OpsUser.username == username)).first()
    if user is None:
        raise OpsUserError(username=username, reason="no such user")
    if len(password) < MIN_LENGTH:
        raise OpsUserError(username=username, reason=f"a password has at least {MIN_LENGTH} characters")
    user.password_hash = hash_password(password)
    session.add(user)
    return user


def sign_in(session: Session, *, username: str, password: str, now: datetime) -> tuple[OpsSession, str]:
    """A new session row and its cookie value (returned once); AuthError(401) for bad credentials."""
    user = session.exec(select(OpsUser).where(OpsUser.username == username)).first()
    ok = verify_password(password, user.password_hash if user else DUMMY_HASH)
    if user is None or not ok or user.disabled_at is not None:
        raise AuthError(status=401, reason="wrong username or password")
    cookie = secrets.token_urlsafe(32)
    row = OpsSession(
        token_hash=token_hash(cookie),
        user_id=user.id or 0,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + SESSION_TTL,
    )
    user.last_login_at = now
    session.add_all([row, user])
    session.flush()
    return row, cookie


def current(session: Session, *, cookie: str | None, now: datetime) -> tuple[OpsSession, OpsUser] | None:
    """The live session and its user for a cookie value, or None (unknown, expired, revoked, disabled)."""
    if not cookie:
        return None
    digest = token_hash(cookie)
    found = session.exec(
        select(OpsSession, OpsUser)
        .join(OpsUser, col(OpsUser.id) == col(OpsSession.user_id))
        .where(OpsSession.token_hash == digest)
    ).first()
    if found is None:
        return None
    row, user = found
    if not hmac.compare_digest(row.token_hash, digest):
        return None
    if row.revoked_at is not None or row.expires_at <= now or user.disabled_at is not None:
        return None
    return row, user


def sign_out(session: Session, *, row: OpsSession, now: datetime) -> None:
    row.revoked_at = now
    session.add(row)


def csrf_ok(row: OpsSession, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(row.csrf_token, presented or "")
