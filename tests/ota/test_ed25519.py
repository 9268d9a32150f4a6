"""The pure-Python Ed25519 verifier (what the ESP32 runs) against RFC 8032 and ``cryptography``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ota.device import ed25519
from ota.keys import SigningKey
from ota.keys import verify as openssl_verify
from tests.ota.vectors import RFC8032

_L = 2**252 + 27742317777372353535851937790883648493
_P = 2**255 - 19


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@pytest.mark.parametrize("vector", RFC8032, ids=[v["name"] for v in RFC8032])
@pytest.mark.parametrize("verify", [ed25519.verify, openssl_verify], ids=["pure", "cryptography"])
def test_rfc8032_vectors(vector: dict, verify) -> None:
    public, sig, msg = (bytes.fromhex(vector[k]) for k in ("public", "signature", "message"))
    assert verify(public, sig, msg)
    assert not verify(public, _flip(sig, 3), msg)  # R
    assert not verify(public, _flip(sig, 300), msg)  # S
    assert not verify(_flip(public, 9), sig, msg)
    assert not verify(public, sig, msg + b"\x00")


@settings(max_examples=40, deadline=None)
@given(message=st.binary(max_size=600), bit=st.integers(0, 511))
def test_cryptography_signatures_verify_and_tampering_fails(message: bytes, bit: int) -> None:
    key = SigningKey.generate()
    sig = key.sign(message)
    assert ed25519.verify(key.public, sig, message)
    assert not ed25519.verify(key.public, _flip(sig, bit), message)
    if message:
        assert not ed25519.verify(key.public, sig, _flip(message, bit % (8 * len(message))))


def test_malleable_s_plus_l_is_refused() -> None:
    # RFC 8032 5.1.7: S must be below L; S + L verifies the same equation, so it must be checked.
    key = SigningKey.generate()
    sig = key.sign(b"m")
    s = int.from_bytes(sig[32:], "little") + _L
    forged = sig[:32] + s.to_bytes(32, "little")
    assert not ed25519.verify(key.public, forged, b"m")
    assert not openssl_verify(key.public, forged, b"m")


def test_non_canonical_and_off_curve_keys_are_refused() -> None:
    sig = SigningKey.generate().sign(b"m")
    assert not ed25519.verify((_P + 1).to_bytes(32, "little"), sig, b"m")  # y >= p
    assert not ed25519.verify((2).to_bytes(32, "little"), sig, b"m")  # y = 2 is not on the curve
    assert not ed25519.verify((1 | 1 << 255).to_bytes(32, "little"), sig, b"m")  # x = 0 with sign 1


@pytest.mark.parametrize(("public", "sig"), [(b"\x00" * 31, b"\x00" * 64), (b"\x00" * 32, b"\x00" * 63)])
def test_wrong_lengths_are_refused(public: bytes, sig: bytes) -> None:
    assert not ed25519.verify(public, sig, b"")
