"""Errors of device identity and enrollment.

IdentityError
├── CertificateError      a CSR or certificate is unusable (bad signature, wrong CN, wrong key)
├── ReservedNameError     a device id that would collide with a service identity
└── EnrollmentError       a token cannot be used; ``reason`` is a stable code, ``detail`` a sentence
    ├── TokenUnknownError   no such token                         reason "unknown"
    ├── TokenExpiredError   past its expiry                       reason "expired"
    ├── TokenUsedError      already claimed (single use)          reason "used"
    ├── TokenRevokedError   withdrawn by ops                      reason "revoked"
    └── TokenMismatchError  claimed for another hardware/device   reason "mismatch"
"""

from __future__ import annotations

from datetime import datetime

from cloud.exceptions import CloudError


class IdentityError(CloudError):
    """Base of identity errors."""


class CertificateError(IdentityError):
    def __init__(self, reason: str, *, device_id: str | None = None) -> None:
        self.reason = reason
        self.device_id = device_id
        super().__init__(f"{device_id}: {reason}" if device_id else reason)


class ReservedNameError(IdentityError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"{name!r} is not a valid device id (device ids are [a-z0-9][a-z0-9-]{{2,62}})")


class EnrollmentError(IdentityError):
    reason = "invalid"

    def __init__(self, detail: str, *, token_prefix: str | None = None) -> None:
        self.detail = detail
        self.token_prefix = token_prefix
        super().__init__(f"enrollment token refused ({self.reason}): {detail}")


class TokenUnknownError(EnrollmentError):
    reason = "unknown"


class TokenExpiredError(EnrollmentError):
    reason = "expired"

    def __init__(self, detail: str, *, token_prefix: str | None = None, expired_at: datetime) -> None:
        self.expired_at = expired_at
        super().__init__(detail, token_prefix=token_prefix)


class TokenUsedError(EnrollmentError):
    reason = "used"

    def __init__(
        self, detail: str, *, token_prefix: str | None = None, used_at: datetime, device_id: str | None
    ) -> None:
        self.used_at = used_at
        self.device_id = device_id
        super().__init__(detail, token_prefix=token_prefix)


class TokenRevokedError(EnrollmentError):
    reason = "revoked"


class TokenMismatchError(EnrollmentError):
    reason = "mismatch"
