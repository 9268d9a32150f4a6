"""The fleet's roots: the one it started with (``Settings.ota_root``) and each rotation since.

A root rotation (after a key compromise, or to change who signs) reaches the devices through the
cloud, as TUF delivers roots: ops upload root N+1, signed by a threshold of root N's keys and of its
own (``mobilytics-ota root rotate``, then ``sign --document``, then ``root publish``). It is accepted
only when ``TrustedRoot.update`` accepts it as the successor of the newest root, exactly as a device
will, and while it has not expired; from then on releases are verified against it, so a release
signed by a key it dropped is refused here as it is on the devices. Devices fetch root N without a
token at ``<base>/releases/roots/<N>.json`` (``ota.device.roots.root_url``) until a 404.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cloud.core.types import from_ms
from cloud.exceptions import ConflictError, NotFoundError, ReleaseStoreError, RootRejectedError
from cloud.releases.models import OtaRoot, OtaRootPublic
from ota.device.metadata import TrustedRoot
from ota.exceptions import Expired, OtaError
from ota.keys import verify as ed25519_verify


def _first(path: Path) -> tuple[TrustedRoot, bytes]:
    """The root the fleet started with (its own threshold must sign it): without it nothing verifies."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ReleaseStoreError(key=str(path), reason=f"no trusted root to verify releases with ({e})") from e
    try:
        return TrustedRoot.from_bytes(data, ed25519_verify), data
    except OtaError as e:
        raise ReleaseStoreError(key=str(path), reason=f"the trusted root itself is invalid: {e}") from e


def _newest_stored(session: Session) -> OtaRoot | None:
    return session.exec(select(OtaRoot).order_by(col(OtaRoot.version).desc()).limit(1)).first()


def trusted_root(session: Session, path: Path) -> TrustedRoot:
    """The newest root: the last rotation stored, or the first root when none is newer."""
    first, _ = _first(path)
    stored = _newest_stored(session)
    if stored is None or stored.version <= first.root.version:
        return first
    try:
        return TrustedRoot.from_bytes(stored.document, ed25519_verify)
    except OtaError as e:
        key = f"ota_root v{stored.version}"
        raise ReleaseStoreError(key=key, reason=f"the stored root is invalid: {e}") from e


def register(session: Session, *, path: Path, document: bytes, now: datetime) -> OtaRoot:
    """Store ``document`` as the next root; RootRejectedError (with the OTA error) unless it chains."""
    trusted = trusted_root(session, path)
    try:
        new = trusted.update(document).root
        if int(now.timestamp()) >= new.expires:  # devices would refuse every release under it
            raise Expired(role="root", version=new.version, expires=new.expires, now=int(now.timestamp()))
    except OtaError as e:
        raise RootRejectedError(
            error=type(e).__name__, reason=str(e), trusted_version=trusted.root.version
        ) from e
    root = OtaRoot(
        version=new.version, expires=from_ms(new.expires * 1000), document=bytes(document), created_at=now
    )
    session.add(root)
    try:
        session.flush()
    except IntegrityError as e:  # a concurrent upload of the same version won
        session.rollback()
        raise ConflictError(what="root", key=f"v{new.version}", reason="was stored meanwhile") from e
    return root


def document(session: Session, *, path: Path, version: int) -> bytes:
    """Root ``version`` as signed, the first root included; NotFoundError past the newest."""
    stored = session.get(OtaRoot, version)
    if stored is not None:
        return stored.document
    first, data = _first(path)
    if first.root.version == version:
        return data
    raise NotFoundError("root", str(version))


def list_roots(session: Session) -> list[OtaRoot]:
    return list(session.exec(select(OtaRoot).order_by(col(OtaRoot.version))))


def url(base_url: str, version: int) -> str:
    """Where devices fetch root ``version`` (``ota.device.roots.root_url`` of any release's metadata)."""
    return f"{base_url}/releases/roots/{version}.json"


def public(root: OtaRoot, base_url: str) -> OtaRootPublic:
    return OtaRootPublic(**root.model_dump(exclude={"document"}), url=url(base_url, root.version))
