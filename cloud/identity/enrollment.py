"""Enrollment tokens: how a technician's one-time secret becomes a device's identity.

Rules (MISSION §7, issue 7), decided here with no I/O so that every store applies the same ones:

* A token is minted by ops for one tenant, optionally pinned to a hardware kind and a device id, and
  expires (default 24 h, at most 30 days). Only its SHA-256 is stored; the secret is shown once.
  (256 random bits: a fast hash is enough, as for API tokens.)
* It may be claimed once. A second claim, a claim after expiry or after ops revoked it, and a claim
  for another hardware kind or device id than it was pinned to are refused, each with its own reason.
* Every mint, claim and refusal is an audit event (the store writes them; ``Refusal`` carries what).

The order of checks is fixed so the reason is deterministic: unknown, revoked, used, expired, mismatch.
A used token reports "used" even once expired, which is what a technician re-running a step needs to
hear ("this device is already registered with it"), and what an attacker replaying it learns nothing
new from.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from cloud.identity.exceptions import (
    TokenExpiredError,
    TokenMismatchError,
    TokenRevokedError,
    TokenUnknownError,
    TokenUsedError,
)

PREFIX = "enr_"
DEFAULT_TTL = timedelta(hours=24)
MAX_TTL = timedelta(days=30)


class TokenRecord(Protocol):
    """What a store keeps per token (cloud/identity/models.py's row satisfies it)."""

    token_hash: str
    prefix: str
    tenant: str
    hardware: str | None
    device_id: str | None
    expires_at: datetime
    used_at: datetime | None
    used_by: str | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class MintedToken:
    secret: str  # shown once to ops, typed or scanned by the technician
    token_hash: str
    prefix: str
    expires_at: datetime


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[: len(PREFIX) + 6]


def mint(*, now: datetime, ttl: timedelta = DEFAULT_TTL) -> MintedToken:
    if not timedelta(seconds=1) <= ttl <= MAX_TTL:
        raise ValueError(f"ttl must be between 1 s and {MAX_TTL.days} days")
    secret = PREFIX + secrets.token_urlsafe(32)
    return MintedToken(secret, token_hash(secret), display_prefix(secret), now + ttl)


def check_claim(
    record: TokenRecord | None, *, secret: str, now: datetime, device_id: str, hardware: str | None
) -> None:
    """Raise the EnrollmentError that says why ``record`` cannot enroll ``device_id`` now, or return."""
    prefix = display_prefix(secret) if secret.startswith(PREFIX) else None
    if record is None or not hmac.compare_digest(record.token_hash, token_hash(secret)):
        raise TokenUnknownError(
            "no such enrollment token (mistyped, or from another fleet)", token_prefix=prefix
        )
    if record.revoked_at is not None:
        raise TokenRevokedError(f"revoked by ops at {record.revoked_at.isoformat()}", token_prefix=prefix)
    if record.used_at is not None:
        raise TokenUsedError(
            f"already used at {record.used_at.isoformat()} to enroll {record.used_by}; tokens are single-use",
            token_prefix=prefix,
            used_at=record.used_at,
            device_id=record.used_by,
        )
    if now >= record.expires_at:
        raise TokenExpiredError(
            f"expired at {record.expires_at.isoformat()}; ask ops for a new one",
            token_prefix=prefix,
            expired_at=record.expires_at,
        )
    if record.hardware is not None and hardware != record.hardware:
        raise TokenMismatchError(
            f"token is for {record.hardware} hardware, this device is {hardware}", token_prefix=prefix
        )
    if record.device_id is not None and device_id != record.device_id:
        raise TokenMismatchError(
            f"token is for device {record.device_id}, not {device_id}", token_prefix=prefix
        )
