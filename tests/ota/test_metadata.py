"""Each attack The Update Framework lists, refused with its typed error (ota/SPEC.md, "Attacks")."""

from __future__ import annotations

import json

import pytest

from ota import signing
from ota.device.metadata import MAX_DOCUMENT_BYTES, TrustedRoot, verify_release
from ota.exceptions import (
    BadSignature,
    Expired,
    MalformedDocument,
    Rollback,
    ThresholdNotMet,
    VersionGap,
    WrongTarget,
)
from ota.keys import SigningKey, verify
from tests.ota.conftest import DAY, HARDWARE, MODEL, NOW, Signers


def _trusted(signers: Signers) -> TrustedRoot:
    return TrustedRoot.from_bytes(signers.root_doc(), verify)


def _verify(root: TrustedRoot, doc: bytes, **kw):
    args = {"now": NOW, "installed_version": 4, "hardware": HARDWARE, "model": MODEL} | kw
    return verify_release(root, doc, **args)


def _edit(doc: bytes, change) -> bytes:
    """The document with ``change(signed)`` applied and its signatures left as they were."""
    obj = json.loads(doc)
    change(obj["signed"])
    return json.dumps(obj).encode()


def test_a_release_signed_by_the_threshold_is_accepted(signers: Signers) -> None:
    release = _verify(_trusted(signers), signers.release_doc())
    assert (release.version, release.hardware, release.model) == (5, HARDWARE, MODEL)
    assert release.length == 10_253


def test_arbitrary_software_altered_hash_is_a_bad_signature(signers: Signers) -> None:
    doc = _edit(signers.release_doc(), lambda s: s["artifact"].update(sha256="00" * 32))
    with pytest.raises(BadSignature) as e:
        _verify(_trusted(signers), doc)
    assert e.value.role == "release"
    assert e.value.valid == []
    assert len(e.value.invalid) == 2


def test_arbitrary_software_signed_by_a_key_outside_the_role(signers: Signers) -> None:
    outsider = SigningKey.generate()
    with pytest.raises(ThresholdNotMet) as e:
        _verify(_trusted(signers), signers.release_doc([outsider, signers.release_keys[0]]))
    assert e.value.valid == [signers.release_keys[0].keyid]
    assert e.value.threshold == 2


def test_root_keys_cannot_sign_releases(signers: Signers) -> None:
    with pytest.raises(ThresholdNotMet):
        _verify(_trusted(signers), signers.release_doc(signers.root_keys))


def test_below_threshold_signatures_are_refused(signers: Signers) -> None:
    with pytest.raises(ThresholdNotMet) as e:
        _verify(_trusted(signers), signers.release_doc(signers.release_keys[:1]))
    assert (len(e.value.valid), e.value.threshold, e.value.invalid) == (1, 2, [])


def test_one_key_cannot_count_twice(signers: Signers) -> None:
    doc = json.loads(signers.release_doc(signers.release_keys[:1]))
    doc["signatures"].append(dict(doc["signatures"][0]))
    with pytest.raises(MalformedDocument, match="repeats key"):
        _verify(_trusted(signers), json.dumps(doc).encode())


def test_key_ids_must_be_the_hash_of_the_key(signers: Signers) -> None:
    # Aliasing one key under a second id would let one signature count twice.
    root = signers.root()
    alias = "ab" * 32
    root.keys[alias] = signers.release_keys[0].public
    root.roles["release"].keyids += (alias,)
    with pytest.raises(MalformedDocument, match="not the sha256 of its public key"):
        signing.document(root)


def test_rollback_to_an_older_release_is_refused(signers: Signers) -> None:
    with pytest.raises(Rollback) as e:
        _verify(_trusted(signers), signers.release_doc(version=3))
    assert (e.value.offered, e.value.installed) == (3, 4)


def test_the_installed_version_again_only_when_asked(signers: Signers) -> None:
    doc = signers.release_doc(version=4)
    with pytest.raises(Rollback):
        _verify(_trusted(signers), doc)
    assert _verify(_trusted(signers), doc, allow_reinstall=True).version == 4
    with pytest.raises(Rollback):
        _verify(_trusted(signers), signers.release_doc(version=3), allow_reinstall=True)


def test_freeze_an_expired_release_is_refused(signers: Signers) -> None:
    doc = signers.release_doc(expires=NOW + DAY)
    assert _verify(_trusted(signers), doc, now=NOW + DAY - 1)
    with pytest.raises(Expired) as e:
        _verify(_trusted(signers), doc, now=NOW + DAY)
    assert (e.value.role, e.value.expires, e.value.now) == ("release", NOW + DAY, NOW + DAY)


def test_freeze_an_expired_root_refuses_every_release(signers: Signers) -> None:
    root = TrustedRoot.from_bytes(signers.root_doc(expires=NOW + 10), verify)
    with pytest.raises(Expired) as e:
        _verify(root, signers.release_doc(), now=NOW + 10)
    assert e.value.role == "root"


def test_mix_and_match_fields_from_another_release_break_the_signature(signers: Signers) -> None:
    older = json.loads(signers.release_doc(version=5, artifact=b"old firmware"))
    newer = json.loads(signers.release_doc(version=6, artifact=b"new firmware"))
    newer["signed"]["artifact"] = older["signed"]["artifact"]
    with pytest.raises(BadSignature):
        _verify(_trusted(signers), json.dumps(newer).encode())
    newer["signatures"] = older["signatures"]
    with pytest.raises(BadSignature):
        _verify(_trusted(signers), json.dumps(newer).encode())


@pytest.mark.parametrize(("hardware", "model"), [("rpi", MODEL), (HARDWARE, "esp32-s3")])
def test_wrong_target_is_refused(signers: Signers, hardware: str, model: str) -> None:
    with pytest.raises(WrongTarget) as e:
        _verify(_trusted(signers), signers.release_doc(), hardware=hardware, model=model)
    assert (e.value.offered_hardware, e.value.offered_model) == (HARDWARE, MODEL)
    assert (e.value.hardware, e.value.model) == (hardware, model)


def test_unknown_fields_are_signed_and_ignored(signers: Signers) -> None:
    doc = json.loads(signers.release_doc())
    doc["signed"]["notes"] = "fixes GPS drift"
    doc = signing.sign(json.dumps(doc).encode(), signers.release_keys[:2])
    assert _verify(_trusted(signers), doc).version == 5
    with pytest.raises(BadSignature):
        _verify(_trusted(signers), _edit(doc, lambda s: s.update(notes="bricks the device")))


def test_a_parser_differential_cannot_smuggle_a_field(signers: Signers) -> None:
    # Duplicate keys: json keeps the last one; the signature covers what was parsed, so it fails.
    doc = signers.release_doc().replace(b'"version":5', b'"version":5,"version":9')
    with pytest.raises(BadSignature):
        _verify(_trusted(signers), doc)


def test_oversized_documents_are_refused_before_parsing(signers: Signers) -> None:
    with pytest.raises(MalformedDocument, match="limit"):
        _verify(_trusted(signers), b" " * (MAX_DOCUMENT_BYTES + 1))


def test_a_damaged_trust_anchor_is_refused(signers: Signers) -> None:
    with pytest.raises(ThresholdNotMet):
        TrustedRoot.from_bytes(signers.root_doc(signers.root_keys[:1]), verify)


class TestRootRotation:
    def test_new_root_signed_by_old_and_new_thresholds_is_trusted(self, signers: Signers) -> None:
        trusted = _trusted(signers)
        old_keys, old_release = signers.root_keys, signers.release_keys
        signers.root_keys = [old_keys[0], SigningKey.generate(), SigningKey.generate()]
        signers.release_keys = [SigningKey.generate(), SigningKey.generate()]
        new_doc = signers.root_doc([*old_keys[:2], *signers.root_keys[1:]], version=2)
        rotated = trusted.update(new_doc)
        assert rotated.root.version == 2
        assert _verify(rotated, signers.release_doc()).version == 5
        # The retired release keys no longer count.
        with pytest.raises(ThresholdNotMet):
            _verify(rotated, signers.release_doc(old_release[:2]))

    def test_new_root_without_the_old_threshold_is_refused(self, signers: Signers) -> None:
        # Key compromise: an attacker with one old key and fresh keys of their own.
        trusted = _trusted(signers)
        stolen = signers.root_keys[0]
        signers.root_keys = [stolen, SigningKey.generate(), SigningKey.generate()]
        with pytest.raises(ThresholdNotMet) as e:
            trusted.update(signers.root_doc(signers.root_keys, version=2))
        assert (e.value.role, e.value.root_version) == ("root", 1)

    def test_new_root_without_its_own_threshold_is_refused(self, signers: Signers) -> None:
        trusted = _trusted(signers)
        old_keys = signers.root_keys
        signers.root_keys = [SigningKey.generate() for _ in range(3)]
        with pytest.raises(ThresholdNotMet) as e:
            trusted.update(signers.root_doc(old_keys[:2] + signers.root_keys[:1], version=2))
        assert e.value.root_version == 2

    def test_root_rollback_and_gaps_are_refused(self, signers: Signers) -> None:
        trusted = _trusted(signers).update(signers.root_doc(version=2))
        with pytest.raises(Rollback) as e:
            trusted.update(signers.root_doc(version=2))
        assert (e.value.role, e.value.offered, e.value.installed) == ("root", 2, 2)
        with pytest.raises(VersionGap) as gap:
            trusted.update(signers.root_doc(version=4))
        assert (gap.value.offered, gap.value.expected) == (4, 3)

    def test_an_expired_intermediate_root_still_chains(self, signers: Signers) -> None:
        # python-tuf's rule: only the final root's expiry matters.
        trusted = _trusted(signers).update(signers.root_doc(version=2, expires=NOW - DAY))
        trusted = trusted.update(signers.root_doc(version=3))
        assert _verify(trusted, signers.release_doc()).version == 5
