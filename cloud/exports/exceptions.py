"""Errors of partner exports.

ExportError
├── ObjectStoreError      S3 refused or could not be reached (botocore errors, translated in s3.py)
├── CallbackRejectedError a partner callback with a bad signature, stale timestamp or bad body -> 401/422
└── ExportNotFoundError   a callback naming an export we do not have                            -> 404
"""

from __future__ import annotations

from cloud.exceptions import CloudError


class ExportError(CloudError):
    """Base of export errors."""


class ObjectStoreError(ExportError):
    def __init__(self, *, operation: str, key: str, code: str, reason: str) -> None:
        self.operation = operation
        self.key = key
        self.code = code
        self.reason = reason
        super().__init__(f"S3 {operation} {key}: {code}: {reason}")


class CallbackRejectedError(ExportError):
    def __init__(self, *, partner: str, reason: str, status: int = 401) -> None:
        self.partner = partner
        self.reason = reason
        self.status = status
        super().__init__(f"callback from {partner} rejected: {reason}")


class ExportNotFoundError(ExportError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"export {key!r} not found")
