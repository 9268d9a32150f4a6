"""Export settings: a typed object with defaults, read from MOBILYTICS_EXPORT_* at the process edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from cloud.core.env import env_values

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportSettings:
    # None: AWS's endpoint for the region; tests and MinIO-style stores set a URL.
    export_s3_endpoint: str | None = None
    export_s3_region: str = "eu-central-1"
    export_s3_bucket: str = "mobilytics-partner-exports"
    export_s3_access_key: str | None = None  # None: boto3's default credential chain
    export_s3_secret_key: str | None = None
    export_s3_max_attempts: int = 5  # botocore "standard" retries (throttling, 5xx, connection errors)
    # Objects above this go up as multipart uploads of this part size (S3's minimum part is 5 MiB).
    export_part_size: int = 8 * MIB
    # Mogean ids are re-keyed per campaign from this secret (HMAC-SHA256); keep it out of the repo.
    export_mogean_secret: str = ""
    export_mogean_min_ids: int = 100
    export_spotzi_k: int = 5
    # Shared secrets partners sign their callbacks with (HMAC-SHA256), and the allowed clock skew.
    export_mogean_callback_secret: str = ""
    export_spotzi_callback_secret: str = ""
    export_callback_tolerance_s: int = 300
    # `mobilytics up` runs the export schedule this often (yesterday's exports); 0: not at all.
    export_schedule_interval_s: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ExportSettings:
        return replace(cls(), **env_values(cls, env))

    def callback_secret(self, partner: str) -> str:
        return {
            "mogean": self.export_mogean_callback_secret,
            "spotzi": self.export_spotzi_callback_secret,
        }.get(partner, "")
