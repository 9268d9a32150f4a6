"""Streaming checks (endless data, truncation, corruption) and resuming from the journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from ota.device.artifact import ArtifactVerifier, journal_entry, resume_offset
from ota.device.metadata import Release, TrustedRoot, verify_release
from ota.exceptions import HashMismatch, LengthMismatch
from ota.keys import verify
from tests.ota.conftest import ARTIFACT, HARDWARE, MODEL, NOW, Signers

_CHUNK = 1000


@pytest.fixture
def release(signers: Signers) -> Release:
    root = TrustedRoot.from_bytes(signers.root_doc(), verify)
    return verify_release(
        root, signers.release_doc(), now=NOW, installed_version=4, hardware=HARDWARE, model=MODEL
    )


def _stream(checker: ArtifactVerifier, data: bytes) -> None:
    for i in range(0, len(data), _CHUNK):
        checker.update(data[i : i + _CHUNK])


def test_the_signed_artifact_passes(release: Release) -> None:
    checker = ArtifactVerifier(release)
    _stream(checker, ARTIFACT)
    checker.finish()
    assert checker.received == len(ARTIFACT)


def test_endless_data_is_refused_at_the_first_byte_too_many(release: Release) -> None:
    checker = ArtifactVerifier(release)
    _stream(checker, ARTIFACT)
    with pytest.raises(LengthMismatch) as e:
        checker.update(b"x")
    assert (e.value.expected, e.value.received) == (len(ARTIFACT), len(ARTIFACT) + 1)
    assert checker.received == len(ARTIFACT)  # the refused chunk was not consumed
    checker.finish()


def test_a_chunk_straddling_the_end_is_refused_whole(release: Release) -> None:
    checker = ArtifactVerifier(release)
    checker.update(ARTIFACT[:-10])
    with pytest.raises(LengthMismatch):
        checker.update(ARTIFACT[-10:] + b"\x00")
    assert checker.received == len(ARTIFACT) - 10


def test_a_truncated_artifact_fails_at_finish(release: Release) -> None:
    checker = ArtifactVerifier(release)
    _stream(checker, ARTIFACT[:-1])
    with pytest.raises(LengthMismatch) as e:
        checker.finish()
    assert e.value.received == len(ARTIFACT) - 1


def test_a_corrupted_byte_fails_the_hash(release: Release) -> None:
    data = bytearray(ARTIFACT)
    data[4321] ^= 0x40
    checker = ArtifactVerifier(release)
    _stream(checker, bytes(data))
    with pytest.raises(HashMismatch) as e:
        checker.finish()
    assert e.value.expected == release.sha256


@pytest.mark.parametrize("cut", [0, 1, 999, 1000, 5000, len(ARTIFACT) - 1, len(ARTIFACT)])
def test_resume_after_a_power_cut_rehashes_the_stored_prefix(
    release: Release, tmp_path: Path, cut: int
) -> None:
    part = tmp_path / "artifact.part"
    part.write_bytes(ARTIFACT[:cut])
    journal = journal_entry(release, cut)

    offset = resume_offset(release, journal)
    assert offset == cut
    checker = ArtifactVerifier(release)
    with part.open("rb") as f:
        while chunk := f.read(_CHUNK):
            checker.update(chunk)
    _stream(checker, ARTIFACT[offset:])  # what an HTTP Range request from `offset` returns
    checker.finish()


def test_a_corrupted_stored_prefix_is_caught_by_the_final_hash(release: Release) -> None:
    stored = bytearray(ARTIFACT[:5000])
    stored[10] ^= 1
    checker = ArtifactVerifier(release)
    checker.update(bytes(stored))
    _stream(checker, ARTIFACT[resume_offset(release, journal_entry(release, 5000)) :])
    with pytest.raises(HashMismatch):
        checker.finish()


@pytest.mark.parametrize(
    "journal",
    [
        b"",
        b"\xff\xfe",
        b"[1]",
        b'{"sha256":"00","length":10253,"written":5}',
        b'{"written":5}',
        None,  # another artifact's entry
        b'{"length":10253,"sha256":"SHA","written":-1}',
        b'{"length":10253,"sha256":"SHA","written":99999}',
        b'{"length":10253,"sha256":"SHA","written":true}',
        b'{"length":10253,"sha256":"SHA","written":"5"}',
    ],
)
def test_a_bad_journal_means_starting_over(release: Release, journal: bytes | None) -> None:
    if journal is None:
        other = Release(
            version=1, expires=0, hardware="rpi", model="m", length=release.length, sha256="11" * 32
        )
        journal = journal_entry(other, 5)
    assert resume_offset(release, journal.replace(b"SHA", release.sha256.encode())) == 0
