"""/releases: upload a signed release (document, then artifact) and download it with HTTP Range;
/releases/roots: upload the fleet's next root (key rotation) and download roots by version.

Downloads (`/metadata`, `/artifact`, `/roots/<N>.json`) need no token: devices have none for the
API, and what they fetch is trusted because of its signatures, not because of where it came from.
Uploads need a write token.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.concurrency import iterate_in_threadpool, run_in_threadpool
from fastapi.responses import StreamingResponse

from cloud.api.deps import ReadAccess, SessionDep, SettingsDep, WriteAccess
from cloud.core.config import Settings
from cloud.core.types import utcnow
from cloud.releases import roots, service
from cloud.releases.models import OtaRootPublic, ReleasePublic
from cloud.releases.store import ArtifactStore, open_store

router = APIRouter(prefix="/releases", tags=["releases"])


def _store(request: Request) -> ArtifactStore:
    state = request.app.state
    if getattr(state, "release_store", None) is None:
        settings: Settings = state.settings
        state.release_store = open_store(settings.releases, endpoint=settings.s3_endpoint)
    return state.release_store  # type: ignore[no-any-return]


StoreDep = Annotated[ArtifactStore, Depends(_store)]


@router.post("", status_code=201)
async def upload_document(
    request: Request, session: SessionDep, settings: SettingsDep, _auth: WriteAccess
) -> ReleasePublic:
    """The signed release document (raw JSON body). 422 with the OTA error's reason if it does not
    verify against the trusted root; 409 if this target already has that version."""
    document = await request.body()
    root = roots.trusted_root(session, Path(settings.ota_root))
    release = service.register(session, root=root, document=document, now=utcnow())
    session.commit()
    session.refresh(release)
    return service.public(release, settings.download_base_url)


# The roots' routes come before /{release_id}, which would otherwise take "roots" for an id.
@router.post("/roots", status_code=201)
async def upload_root(
    request: Request, session: SessionDep, settings: SettingsDep, _auth: WriteAccess
) -> OtaRootPublic:
    """The next root (raw JSON body), signed by a threshold of the newest root's root keys and of
    its own. 422 with the OTA error's reason if it does not chain (BadSignature, ThresholdNotMet,
    VersionGap, Rollback, Expired, MalformedDocument); releases are verified against it afterwards."""
    root = roots.register(session, path=Path(settings.ota_root), document=await request.body(), now=utcnow())
    session.commit()
    session.refresh(root)
    return roots.public(root, settings.download_base_url)


@router.get("/roots")
def list_roots(session: SessionDep, settings: SettingsDep, _auth: ReadAccess) -> list[OtaRootPublic]:
    """The roots rotated to since the first one (``Settings.ota_root``), oldest first."""
    return [roots.public(r, settings.download_base_url) for r in roots.list_roots(session)]


@router.get("/roots/{version}.json")
def download_root(version: int, session: SessionDep, settings: SettingsDep) -> Response:
    """Root ``version`` as signed; 404 past the newest (where a device's walk ends)."""
    data = roots.document(session, path=Path(settings.ota_root), version=version)
    return Response(data, media_type="application/json")


@router.put("/{release_id}/artifact")
async def upload_artifact(
    release_id: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
    _auth: WriteAccess,
) -> ReleasePublic:
    """The artifact (raw body, streamed): stored only if its length and sha256 are the signed ones."""
    release = service.get_release(session, release_id=release_id)
    s3 = settings.releases.startswith("s3://")
    spool = Path(tempfile.gettempdir()) if s3 else Path(settings.releases) / ".spool"
    await service.accept_artifact(
        session, store=store, release=release, body=request.stream(), spool=spool, now=utcnow()
    )
    session.commit()
    session.refresh(release)
    return service.public(release, settings.download_base_url)


@router.get("")
def list_releases(
    session: SessionDep, settings: SettingsDep, _auth: ReadAccess, hardware: str | None = None
) -> list[ReleasePublic]:
    return [
        service.public(r, settings.download_base_url)
        for r in service.list_releases(session, hardware=hardware)
    ]


@router.get("/{release_id}")
def read_release(
    release_id: int, session: SessionDep, settings: SettingsDep, _auth: ReadAccess
) -> ReleasePublic:
    return service.public(service.get_release(session, release_id=release_id), settings.download_base_url)


@router.get("/{release_id}/metadata")
def download_metadata(release_id: int, session: SessionDep) -> Response:
    release = service.get_release(session, release_id=release_id)
    return Response(release.document, media_type="application/json")


@router.get("/{release_id}/artifact")
async def download_artifact(
    release_id: int,
    session: SessionDep,
    store: StoreDep,
    range_: Annotated[str | None, Header(alias="range")] = None,
) -> Response:
    """The artifact; ``Range: bytes=N-`` answers 206 with Content-Range so a device resumes."""
    release = service.get_release(session, release_id=release_id)
    length = release.length
    span = service.byte_range(range_, length)
    first, last = span if span is not None else (0, length - 1)
    chunks = service.read_artifact(store, release, first, last)
    # Pull the first chunk before answering, so a store failure is a 503, not a cut-off 200.
    head = await run_in_threadpool(next, chunks, b"")
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(last - first + 1),
        "ETag": f'"{release.sha256}"',
    }
    if span is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{length}"

    async def body():  # type: ignore[no-untyped-def]
        yield head
        async for chunk in iterate_in_threadpool(chunks):
            yield chunk

    return StreamingResponse(
        body(),
        status_code=206 if span is not None else 200,
        headers=headers,
        media_type="application/octet-stream",
    )
