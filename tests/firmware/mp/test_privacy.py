# Hashed ids (runs under MicroPython). Known answers computed with CPython's
# hmac module (see tests/firmware/test_privacy_vectors.py for the cross-check).
import binascii

import privacy


def test_hmac_rfc4231_case_1_and_long_key():
    key = b"\x0b" * 20
    d = privacy.hmac_sha256(key, b"Hi There")
    assert binascii.hexlify(d) == b"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    # case 6: a key longer than the block is hashed first
    d = privacy.hmac_sha256(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First")
    assert binascii.hexlify(d) == b"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"


def test_randomized_flag():
    assert privacy.randomized(1, b"\x00\x11\x22\x33\x44\x55") == 1
    assert privacy.randomized(0, b"\x02\x11\x22\x33\x44\x55") == 1
    assert privacy.randomized(0, b"\xa4\x11\x22\x33\x44\x55") == 0


def test_period_key_rotates():
    h = privacy.Hasher(b"k" * 32, 86400)
    mac = b"\xa4\x11\x22\x33\x44\x55"
    a = h.hid(mac, 86400 * 5)
    assert h.hid(mac, 86400 * 6 - 1) == a
    assert h.hid(mac, 86400 * 6) != a
    assert len(a) == 16 and a == a.lower()
