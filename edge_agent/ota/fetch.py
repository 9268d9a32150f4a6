"""Resumable, verified download of an artifact over HTTP Range, with a progress journal; and the
small signed documents (release metadata, roots) fetched whole.

The partial file and its journal (``ota.device.artifact.journal_entry``) survive a power cut. On a
new attempt the durable prefix is re-hashed from the partial file into a fresh ``ArtifactVerifier``
and the rest is requested with ``Range: bytes=<offset>-``; every chunk is checked against the signed
length before it is written, and the whole against the signed sha256 at the end. A verification
failure deletes the partial file and the journal: the next attempt starts clean.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ota.device.artifact import ArtifactVerifier, journal_entry, resume_offset
from ota.device.metadata import MAX_DOCUMENT_BYTES, Release
from ota.exceptions import OtaError

CHUNK = 16 * 1024


def http_get(url: str, offset: int, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    """A response streaming ``url`` from ``offset`` (a 206 for offset > 0, else a 200)."""
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    response = urllib.request.urlopen(request, timeout=timeout)
    if offset and response.status != 206:
        response.close()
        raise OSError(f"server ignored Range bytes={offset}- (HTTP {response.status})")
    return response


def get_document(url: str, *, missing_ok: bool = False, timeout: float = 30.0) -> bytes | None:
    """A signed document, read to one byte past the spec's limit (so an oversized one is refused as
    malformed, never read whole). With ``missing_ok`` a 404 is None: the end of a walk of roots."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read(MAX_DOCUMENT_BYTES + 1)  # type: ignore[no-any-return]
    except urllib.error.HTTPError as e:
        if missing_ok and e.code == 404:
            return None
        raise


def download(
    url: str,
    release: Release,
    part: Path,
    journal: Path,
    *,
    on_chunk: Callable[[int], None] | None = None,
    get=http_get,  # type: ignore[no-untyped-def]
) -> Path:
    """The verified artifact at ``part``; OtaError (files removed) if the bytes are not the signed ones."""
    try:
        offset = resume_offset(release, journal.read_bytes())
    except OSError:
        offset = 0
    verifier = ArtifactVerifier(release)
    mode = "r+b" if part.exists() and offset else "wb"
    try:
        with part.open(mode) as f:
            left = offset
            while left:  # re-hash the durable prefix through the same fixed buffer
                chunk = f.read(min(CHUNK, left))
                if not chunk:
                    break
                verifier.update(chunk)
                left -= len(chunk)
            offset -= left
            f.seek(offset)
            f.truncate()
            if offset < release.length:
                with get(url, offset) as response:
                    while chunk := response.read(CHUNK):
                        verifier.update(chunk)  # LengthMismatch before a byte past the length is written
                        f.write(chunk)
                        f.flush()
                        os.fsync(f.fileno())
                        journal.write_bytes(journal_entry(release, verifier.received))
                        if on_chunk is not None:
                            on_chunk(verifier.received)
            verifier.finish()
    except OtaError:
        part.unlink(missing_ok=True)
        journal.unlink(missing_ok=True)
        raise
    journal.unlink(missing_ok=True)
    return part
