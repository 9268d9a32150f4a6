"""Checking an artifact while it streams in, and resuming after a power cut.

``ArtifactVerifier`` is fed the artifact in chunks as they arrive, before they are written
anywhere that matters: a chunk that would go one byte past the signed length is refused whole
(endless data), and ``finish`` checks the exact length and the sha256.

Resuming: hashlib's state cannot be saved (MicroPython's sha256 has no copy, neither port can
serialise it) and the signed sha256 covers the whole artifact, so chunk hashes could not be
checked against anything signed. So the journal records only how many bytes were durably written
for which artifact; after a reboot the device re-hashes that prefix from its own storage (the
inactive partition or the partial file, read through the same fixed-size buffer) into a fresh
verifier and asks for the rest with an HTTP Range from ``received``. The journal is a hint, never
trusted: a damaged or foreign one means starting from byte 0, and a lying one or a corrupted
prefix is caught by the final hash, so the worst it costs is a download.
"""

import binascii
import hashlib
import json

from ota.device import canonical
from ota.exceptions import HashMismatch, LengthMismatch


class ArtifactVerifier:
    """Length and sha256 of one release's artifact, checked incrementally."""

    def __init__(self, release) -> None:
        self.release = release
        self.received = 0
        self._hash = hashlib.sha256()

    def update(self, chunk: bytes) -> None:
        """Count and hash ``chunk``; LengthMismatch (nothing consumed) if it overruns the length."""
        received = self.received + len(chunk)
        if received > self.release.length:
            raise LengthMismatch(expected=self.release.length, received=received)
        self._hash.update(chunk)
        self.received = received

    def finish(self) -> None:
        """LengthMismatch if bytes are missing, HashMismatch if they are not the signed ones."""
        if self.received != self.release.length:
            raise LengthMismatch(expected=self.release.length, received=self.received)
        actual = binascii.hexlify(self._hash.digest()).decode()
        if actual != self.release.sha256:
            raise HashMismatch(expected=self.release.sha256, actual=actual)


def journal_entry(release, written: int) -> bytes:
    """The journal record saying ``written`` bytes of ``release``'s artifact are durable.

    Write it only after those bytes are flushed (fsync on the Pi, writeblocks on the ESP32)."""
    return canonical.encode({"length": release.length, "sha256": release.sha256, "written": written})


def resume_offset(release, journal: bytes) -> int:
    """Where to resume ``release``'s download given the journal's bytes: 0 unless it is a sane
    record for this very artifact. Never raises: a bad journal only means downloading again."""
    try:
        entry = json.loads(str(journal, "utf-8"))
    except (ValueError, RuntimeError, TypeError):
        return 0
    if not isinstance(entry, dict) or entry.get("sha256") != release.sha256:
        return 0
    written = entry.get("written")
    if entry.get("length") != release.length or type(written) is not int:  # bool is not int here
        return 0
    return written if 0 <= written <= release.length else 0
