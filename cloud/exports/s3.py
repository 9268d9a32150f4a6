"""The one seam to S3 (boto3): plain methods, `ObjectStoreError` out, nothing of botocore leaks.

Retries of throttling, 5xx and dropped connections are botocore's "standard" mode (jittered,
capped exponential backoff, `export_s3_max_attempts` attempts); what still fails, and every
refusal (AccessDenied from a bucket policy, NoSuchBucket), is translated here with the S3 code.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cloud.exports.config import ExportSettings
from cloud.exports.exceptions import ObjectStoreError

_CODES = {"403": "AccessDenied", "404": "NotFound"}


def _translate(operation: str, key: str, e: Exception) -> ObjectStoreError:
    if isinstance(e, ClientError):
        err = e.response.get("Error", {})
        code = str(err.get("Code") or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        return ObjectStoreError(
            operation=operation, key=key, code=_CODES.get(code, code), reason=str(err.get("Message") or e)
        )
    return ObjectStoreError(operation=operation, key=key, code=type(e).__name__, reason=str(e))


class ObjectStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, s: ExportSettings) -> ObjectStore:
        client = boto3.client(
            "s3",
            endpoint_url=s.export_s3_endpoint,
            region_name=s.export_s3_region,
            aws_access_key_id=s.export_s3_access_key,
            aws_secret_access_key=s.export_s3_secret_key,
            config=Config(
                retries={"max_attempts": s.export_s3_max_attempts, "mode": "standard"},
                s3={"addressing_style": "path"},
                connect_timeout=5,
                read_timeout=60,
            ),
        )
        return cls(client, s.export_s3_bucket)

    def _do(self, operation: str, key: str, **kw: Any) -> Any:
        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **kw)
        except (ClientError, BotoCoreError) as e:
            raise _translate(operation, key, e) from e

    def put(self, key: str, body: bytes, *, sha256: str, content_type: str) -> None:
        self._do("put_object", key, Key=key, Body=body, ContentType=content_type, Metadata={"sha256": sha256})

    def sha256_of(self, key: str) -> str | None:
        """The sha256 we stored with the object, or None if it is not there."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise _translate("head_object", key, e) from e
        except BotoCoreError as e:
            raise _translate("head_object", key, e) from e
        return head.get("Metadata", {}).get("sha256")  # type: ignore[no-any-return]

    def start_multipart(self, key: str, *, sha256: str, content_type: str) -> str:
        r = self._do(
            "create_multipart_upload", key, Key=key, ContentType=content_type, Metadata={"sha256": sha256}
        )
        return str(r["UploadId"])

    def uploaded_parts(self, key: str, upload_id: str) -> dict[int, str] | None:
        """Part number -> ETag of what S3 holds for an upload; None if the upload is gone."""
        parts: dict[int, str] = {}
        marker = 0
        while True:
            try:
                r = self.client.list_parts(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker
                )
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") in {"NoSuchUpload", "404"}:
                    return None
                raise _translate("list_parts", key, e) from e
            for p in r.get("Parts", []):
                parts[int(p["PartNumber"])] = str(p["ETag"])
            if not r.get("IsTruncated"):
                return parts
            marker = int(r["NextPartNumberMarker"])

    def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> str:
        r = self._do("upload_part", key, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
        return str(r["ETag"])

    def complete_multipart(self, key: str, upload_id: str, parts: dict[int, str]) -> None:
        self._do(
            "complete_multipart_upload",
            key,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": parts[n]} for n in sorted(parts)]},
        )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") not in {"NoSuchUpload", "404"}:
                raise _translate("abort_multipart_upload", key, e) from e

    def pending_uploads(self, prefix: str) -> list[tuple[str, str]]:
        r = self._do("list_multipart_uploads", prefix, Prefix=prefix)
        return [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])]
