"""Where artifacts live: a local directory (the embedded default) or an S3-compatible bucket (boto3).

One small interface, ``ArtifactStore``: ``put`` a finished, verified file under a key; ``size``;
``read`` a byte range as chunks. Both implementations are real (the S3 one is tested against
moto's standalone server over HTTP). The file system's and boto3's errors are translated into
``ReleaseStoreError`` here and nowhere else.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from cloud.exceptions import ReleaseStoreError

CHUNK = 64 * 1024


class ArtifactStore(Protocol):
    def put(self, key: str, path: Path) -> None:
        """Store the file at ``path`` under ``key`` (replacing it)."""

    def size(self, key: str) -> int:
        """Bytes stored under ``key``; ReleaseStoreError when absent."""

    def read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start``..``end`` inclusive, in chunks of at most CHUNK."""


class DirectoryStore:
    """Artifacts as files under one directory; a put is a rename, so readers never see half a file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if "/" in key or key.startswith("."):
            raise ReleaseStoreError(key=key, reason="keys are plain file names")
        return self.root / key

    def put(self, key: str, path: Path) -> None:
        target = self._path(key)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            shutil.copyfile(path, tmp)
            with tmp.open("rb+") as f:
                os.fsync(f.fileno())
            tmp.replace(target)
        except OSError as e:
            raise ReleaseStoreError(key=key, reason=str(e)) from e

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except OSError as e:
            raise ReleaseStoreError(key=key, reason=str(e)) from e

    def read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        try:
            with self._path(key).open("rb") as f:
                f.seek(start)
                left = end - start + 1
                while left > 0:
                    chunk = f.read(min(CHUNK, left))
                    if not chunk:
                        return
                    left -= len(chunk)
                    yield chunk
        except OSError as e:
            raise ReleaseStoreError(key=key, reason=str(e)) from e


class S3Store:
    """Artifacts as objects in an S3-compatible bucket, ranges read with S3's own Range GET."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    @classmethod
    def from_url(cls, url: str, *, endpoint: str | None = None) -> S3Store:
        import boto3  # the cloud extra; imported here so a directory store never needs it

        parts = urlsplit(url)
        client = boto3.client("s3", endpoint_url=endpoint)
        return cls(client, parts.netloc, parts.path)

    def _errors(self, key: str) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        return (BotoCoreError, ClientError)

    def put(self, key: str, path: Path) -> None:
        try:
            self.client.upload_file(str(path), self.bucket, self.prefix + key)
        except self._errors(key) as e:
            raise ReleaseStoreError(key=key, reason=str(e)) from e

    def size(self, key: str) -> int:
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)["ContentLength"])
        except self._errors(key) as e:
            raise ReleaseStoreError(key=key, reason=str(e)) from e

    def read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        try:
            obj = self.client.get_object(
                Bucket=self.bucket, Key=self.prefix + key, Range=f"bytes={start}-{end}"
            )
            body = obj["Body"]
            try:
                while chunk := body.read(CHUNK):
                    yield chunk
            finally:
                body.close()
        except self._errors(key) as e:
            raise ReleaseStoreError(key=key, reason=str(e)) from e


def open_store(location: str, *, endpoint: str | None = None) -> ArtifactStore:
    """The store a ``releases`` setting names: ``s3://bucket[/prefix]`` or a directory path."""
    if location.startswith("s3://"):
        return S3Store.from_url(location, endpoint=endpoint)
    return DirectoryStore(Path(location))
