"""Errors of the campaign world. Routes turn them into HTTP in cloud/api/errors.py.

CloudError
└── CampaignWorldError
    ├── AlreadyExistsError   an id is taken                                  -> 409
    ├── OverlapError         a mount overlaps another mount of the device    -> 409
    └── InvalidInputError    a reference or value the world cannot accept    -> 422
        (a GeoJSON zone: carries the zone id and JSON path; a time zone; a report query)
"""

from __future__ import annotations

from cloud.exceptions import CloudError


class CampaignWorldError(CloudError):
    """Base of the campaign world's errors."""


class AlreadyExistsError(CampaignWorldError):
    def __init__(self, what: str, key: str) -> None:
        self.what = what
        self.key = key
        super().__init__(f"{what} {key!r} already exists")


class OverlapError(CampaignWorldError):
    def __init__(self, *, device_id: str, other_id: int) -> None:
        self.device_id = device_id
        self.other_id = other_id
        super().__init__(f"device {device_id} is already mounted in that period (device history {other_id})")


class InvalidInputError(CampaignWorldError):
    def __init__(self, *, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")
