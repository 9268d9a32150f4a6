"""Accepting a release (document, then artifact) and serving its bytes with HTTP Range.

1. ``register`` takes the signed document, verifies it against the fleet's newest root (roots.py)
   with the devices' own code (``ota.device.metadata``: threshold signatures, expiry of root and release) and
   stores it, refusing a second release for the same target and version.
2. ``accept_artifact`` streams the upload through ``ArtifactVerifier`` into a temporary file (length
   refused the moment it overruns, sha256 at the end) and only then puts it in the store: nothing
   unverified is ever downloadable.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cloud.core.types import from_ms
from cloud.exceptions import (
    ConflictError,
    NotFoundError,
    RangeNotSatisfiableError,
    ReleaseRejectedError,
)
from cloud.releases.models import Release, ReleasePublic, ReleaseState
from cloud.releases.store import ArtifactStore
from ota.device.artifact import ArtifactVerifier
from ota.device.metadata import Release as SignedRelease
from ota.device.metadata import TrustedRoot
from ota.exceptions import OtaError


def _rejected(e: OtaError, release_id: int | None = None) -> ReleaseRejectedError:
    return ReleaseRejectedError(error=type(e).__name__, reason=str(e), release_id=release_id)


def register(session: Session, *, root: TrustedRoot, document: bytes, now: datetime) -> Release:
    try:
        signed = root.authenticate_release(document, now=int(now.timestamp()))
    except OtaError as e:
        raise _rejected(e) from e
    key = f"{signed.hardware}-{signed.sha256}.bin"
    release = Release(
        version=signed.version,
        hardware=signed.hardware,
        model=signed.model,
        length=signed.length,
        sha256=signed.sha256,
        expires=from_ms(signed.expires * 1000),
        document=bytes(document),
        artifact_key=key,
        created_at=now,
    )
    session.add(release)
    try:
        session.flush()
    except IntegrityError as e:
        session.rollback()
        raise ConflictError(
            what="release",
            key=f"{signed.hardware}/{signed.model} v{signed.version}",
            reason="exists already; versions are monotonic, sign a new one",
        ) from e
    return release


def signed_release(release: Release) -> SignedRelease:
    return SignedRelease(
        version=release.version,
        expires=int(release.expires.timestamp()),
        hardware=release.hardware,
        model=release.model,
        length=release.length,
        sha256=release.sha256,
    )


async def accept_artifact(
    session: Session,
    *,
    store: ArtifactStore,
    release: Release,
    body: AsyncIterator[bytes],
    spool: Path,
    now: datetime,
) -> Release:
    """Verify the streamed artifact against the release's signed length and sha256, then store it."""
    if release.state == ReleaseState.READY:
        raise ConflictError(what="release", key=str(release.id), reason="its artifact is stored already")
    verifier = ArtifactVerifier(signed_release(release))
    await asyncio.to_thread(spool.mkdir, parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=spool, prefix="upload-", suffix=".part") as tmp:
        try:
            async for chunk in body:
                verifier.update(chunk)  # refuses the first byte past the signed length
                tmp.write(chunk)
            verifier.finish()
        except OtaError as e:
            raise _rejected(e, release.id) from e
        tmp.flush()
        await asyncio.to_thread(store.put, release.artifact_key, Path(tmp.name))
    release.state = ReleaseState.READY
    release.ready_at = now
    session.add(release)
    return release


def get_release(session: Session, *, release_id: int) -> Release:
    release = session.get(Release, release_id)
    if release is None:
        raise NotFoundError("release", str(release_id))
    return release


def list_releases(session: Session, *, hardware: str | None = None) -> list[Release]:
    stmt = select(Release).order_by(col(Release.id).desc())
    if hardware:
        stmt = stmt.where(Release.hardware == hardware)
    return list(session.exec(stmt))


def urls(base_url: str, release_id: int) -> tuple[str, str]:
    """(artifact url, metadata url) devices download from."""
    return f"{base_url}/releases/{release_id}/artifact", f"{base_url}/releases/{release_id}/metadata"


def public(release: Release, base_url: str) -> ReleasePublic:
    assert release.id is not None
    artifact, metadata = urls(base_url, release.id)
    return ReleasePublic(
        **release.model_dump(exclude={"document", "artifact_key"}),
        artifact_url=artifact,
        metadata_url=metadata,
    )


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(header: str | None, length: int) -> tuple[int, int] | None:
    """(first, last) inclusive for a single-range ``Range`` header, None for the whole artifact.

    ``bytes=N-`` (resume), ``bytes=N-M`` and ``bytes=-K`` (the last K); several ranges are answered
    with the whole body (allowed by RFC 9110). RangeNotSatisfiableError past the end.
    """
    if header is None or "," in header:
        return None
    m = _RANGE.fullmatch(header.strip())
    if m is None or (not m[1] and not m[2]):
        return None  # not a byte range we understand: RFC 9110 says ignore it
    if not m[1]:
        suffix = int(m[2])
        if suffix == 0:
            raise RangeNotSatisfiableError(header=header, length=length)
        return max(0, length - suffix), length - 1
    first = int(m[1])
    last = min(int(m[2]), length - 1) if m[2] else length - 1
    if first >= length or last < first:
        raise RangeNotSatisfiableError(header=header, length=length)
    return first, last


def read_artifact(store: ArtifactStore, release: Release, first: int, last: int) -> Iterator[bytes]:
    if release.state != ReleaseState.READY:
        raise NotFoundError("artifact of release", str(release.id))
    return store.read(release.artifact_key, first, last)
