"""The walk a device makes through rotated roots (ota.device.roots): one version at a time, each
kept as soon as it is accepted, stopping at the first missing version or at the first bad root."""

from __future__ import annotations

import pytest

from ota.device.metadata import TrustedRoot
from ota.device.roots import MAX_ROTATIONS, follow, newest, root_url
from ota.exceptions import BadSignature, ThresholdNotMet, VersionGap
from ota.keys import SigningKey, verify
from tests.ota.conftest import Signers


def _chain(length: int) -> tuple[Signers, list[bytes]]:
    """Roots v1..v``length``, each with fresh keys, signed by its predecessor's threshold and its own."""
    current = Signers()
    docs = [current.root_doc(version=1)]
    for version in range(2, length + 1):
        new = Signers()
        doc = new.root_doc(current.root_keys[:2] + new.root_keys[:2], version=version)
        docs.append(doc)
        current = new
    return current, docs


def _walk(start: bytes, published: dict[int, bytes]) -> tuple[TrustedRoot, list[int], list[int]]:
    asked: list[int] = []
    kept: list[int] = []

    def fetch(version: int) -> bytes | None:
        asked.append(version)
        return published.get(version)

    trusted = follow(
        TrustedRoot.from_bytes(start, verify), fetch, lambda t, _data: kept.append(t.root.version)
    )
    return trusted, asked, kept


def test_the_walk_applies_each_published_root_in_order_until_one_is_missing() -> None:
    last, docs = _chain(4)
    trusted, asked, kept = _walk(docs[0], dict(enumerate(docs[1:], start=2)))
    assert trusted.root.version == 4
    assert asked == [2, 3, 4, 5]
    assert kept == [2, 3, 4]
    assert trusted.root.roles["release"].keyids == tuple(k.keyid for k in last.release_keys)


def test_a_bad_root_stops_the_walk_and_the_roots_before_it_stay_kept() -> None:
    _, docs = _chain(2)
    v1 = TrustedRoot.from_bytes(docs[0], verify)
    signers = Signers()
    kept: list[int] = []

    def keep(trusted: TrustedRoot, _data: bytes) -> None:
        kept.append(trusted.root.version)

    forged = Signers().root_doc(version=3)  # signed by its own keys only, not by v2's
    with pytest.raises(ThresholdNotMet):
        follow(v1, {2: docs[1], 3: forged}.get, keep)
    assert kept == [2]
    own = TrustedRoot.from_bytes(signers.root_doc(version=1), verify)
    with pytest.raises(VersionGap):
        follow(own, {2: signers.root_doc(version=3)}.get, keep)
    tampered = docs[1].replace(b'"threshold":2', b'"threshold":1', 1)
    with pytest.raises(BadSignature):
        follow(v1, {2: tampered}.get, keep)
    assert kept == [2]


def test_a_walk_is_bounded_so_a_server_cannot_keep_a_device_verifying() -> None:
    _, docs = _chain(MAX_ROTATIONS + 3)
    trusted, asked, _ = _walk(docs[0], dict(enumerate(docs[1:], start=2)))
    assert trusted.root.version == MAX_ROTATIONS + 1
    assert len(asked) == MAX_ROTATIONS  # the next offer goes on from there


def test_newest_prefers_the_higher_version_and_passes_over_a_damaged_copy() -> None:
    _, docs = _chain(2)
    assert newest([docs[0], docs[1]], verify).root.version == 2
    assert newest([docs[1], docs[0]], verify).root.version == 2
    assert newest([docs[0], None], verify).root.version == 1
    assert newest([docs[0], docs[1][:-5]], verify).root.version == 1  # a torn stored copy
    with pytest.raises(ThresholdNotMet):
        newest([Signers().root_doc([SigningKey.generate()], version=1)], verify)


def test_roots_are_published_beside_the_releases() -> None:
    assert root_url("http://c:8000/releases/17/metadata", 2) == "http://c:8000/releases/roots/2.json"
    assert root_url("http://h/j1/metadata", 12) == "http://h/roots/12.json"
