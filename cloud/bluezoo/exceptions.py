"""Errors of the BlueZoo adapter.

    BlueZooError
    ├── BlueZooUnavailableError  the API kept failing (5xx, 429, connection) past the retry budget
    ├── BlueZooAuthError         401/403: the configured credentials are refused
    └── BlueZooFormatError       a page that is not the format of format.py (records are checked one
                                 by one and counted as rejected; this is for a page that is not a page)

httpx's errors are translated in client.py and never leak past it.
"""

from __future__ import annotations

from cloud.exceptions import CloudError


class BlueZooError(CloudError):
    pass


class BlueZooUnavailableError(BlueZooError):
    def __init__(self, *, url: str, reason: str, attempts: int) -> None:
        self.url = url
        self.reason = reason
        self.attempts = attempts
        super().__init__(f"BlueZoo {url} unavailable after {attempts} attempts: {reason}")


class BlueZooAuthError(BlueZooError):
    def __init__(self, *, url: str, status: int) -> None:
        self.url = url
        self.status = status
        super().__init__(f"BlueZoo refused our credentials ({status}) at {url}")


class BlueZooFormatError(BlueZooError):
    def __init__(self, *, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"BlueZoo page at {url} is malformed: {reason}")
