"""ota.device.sha512 (MicroPython lacks hashlib.sha512) against CPython's hashlib."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ota.device.sha512 import sha512


@pytest.mark.parametrize("n", [0, 1, 111, 112, 127, 128, 129, 239, 240, 255, 256, 1000])
def test_padding_boundaries(n: int) -> None:
    data = bytes(i % 251 for i in range(n))
    assert sha512(data) == hashlib.sha512(data).digest()


@given(st.binary(max_size=700))
def test_matches_hashlib(data: bytes) -> None:
    assert sha512(data) == hashlib.sha512(data).digest()


def test_accepts_memoryview() -> None:
    data = bytes(range(200))
    assert sha512(memoryview(data)) == hashlib.sha512(data).digest()
