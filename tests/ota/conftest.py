"""Builders for OTA tests: real keys, real documents signed by ``ota.signing``.

tests/ota/mp/ holds MicroPython code, run by test_micropython.py (never collected by pytest).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pytest

from ota import signing
from ota.device.metadata import Release, Root
from ota.keys import SigningKey

collect_ignore = ["mp"]

NOW = 1_800_000_000
DAY = 86_400
HARDWARE = "esp32"
MODEL = "esp32-wroom-32"
# 10,253 bytes; ARTIFACT_SPEC rebuilds it under MicroPython (tests/ota/mp/ota_cases.py).
ARTIFACT_SPEC = (bytes(range(256)).hex(), 40, b"firmware tail".hex())
ARTIFACT = bytes.fromhex(ARTIFACT_SPEC[0]) * ARTIFACT_SPEC[1] + bytes.fromhex(ARTIFACT_SPEC[2])


@dataclass
class Signers:
    """A root role and a release role with their private keys, and helpers to sign with them."""

    root_keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.generate() for _ in range(3)])
    release_keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.generate() for _ in range(3)])
    root_threshold: int = 2
    release_threshold: int = 2

    def root(self, *, version: int = 1, expires: int = NOW + 365 * DAY) -> Root:
        return signing.make_root(
            version=version,
            expires=expires,
            roles={
                "root": ([k.public for k in self.root_keys], self.root_threshold),
                "release": ([k.public for k in self.release_keys], self.release_threshold),
            },
        )

    def root_doc(self, signers: list[SigningKey] | None = None, **kw: int) -> bytes:
        keys = self.root_keys[: self.root_threshold] if signers is None else signers
        return signing.sign(signing.document(self.root(**kw)), keys)

    def release_doc(
        self,
        signers: list[SigningKey] | None = None,
        *,
        version: int = 5,
        expires: int = NOW + 30 * DAY,
        hardware: str = HARDWARE,
        model: str = MODEL,
        artifact: bytes = ARTIFACT,
    ) -> bytes:
        release = Release(
            version=version,
            expires=expires,
            hardware=hardware,
            model=model,
            length=len(artifact),
            sha256=hashlib.sha256(artifact).hexdigest(),
        )
        keys = self.release_keys[: self.release_threshold] if signers is None else signers
        return signing.sign(signing.document(release), keys)


@pytest.fixture
def signers() -> Signers:
    return Signers()
