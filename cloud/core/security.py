"""API token material: generation and hashing. Tokens are shown once and stored as SHA-256 only."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "mob_"


def new_token() -> str:
    """A fresh token: ``mob_`` + 43 URL-safe characters (256 random bits)."""
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def display_prefix(token: str) -> str:
    return token[: len(PREFIX) + 6]
