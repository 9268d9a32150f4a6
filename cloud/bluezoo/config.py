"""BlueZoo settings: a typed object with defaults, read from MOBILYTICS_BLUEZOO_* at the process edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from cloud.core.env import env_values


@dataclass(frozen=True, slots=True, kw_only=True)
class BlueZooSettings:
    bluezoo_base_url: str = "https://api.bluezoo.io"
    bluezoo_api_key: str = ""  # sent as a bearer token
    bluezoo_page_size: int = 500
    bluezoo_poll_interval_s: float = 300.0
    bluezoo_max_attempts: int = 6  # per page, over 429s, 5xx and connection errors
    bluezoo_backoff_cap_s: float = 60.0
    # BlueZoo's device hashes are re-keyed into our 16-hex `hid` with this key (HMAC-SHA256), so
    # their ids never enter our tables and match nothing of theirs.
    bluezoo_hid_key: str = ""
    # Our device id for a BlueZoo sensor: this prefix + their sensor id.
    bluezoo_device_prefix: str = "bz-"
    bluezoo_tenant: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> BlueZooSettings:
        return replace(cls(), **env_values(cls, env))
