"""Keyed hashing of device addresses: the rule that keeps raw MACs on the sensor.

The rule (the ESP32 firmware implements the same one; ``tests/edge_agent/privacy_vectors.json``
holds vectors both run):

    period_index = ts_seconds // rotation_s                      (rotation_s from config, 86400)
    k_p          = HMAC-SHA256(fleet_key, b"mob-id-v1:" + str(period_index).encode())
    hid          = HMAC-SHA256(k_p, mac_6_raw_bytes).digest()[:8].hex()   (16 lowercase hex)
    flags bit0   = the locally administered bit (0x02 of the first octet): a randomised address

Why keyed and per period: the MAC space is small enough to enumerate, so a plain hash is reversible;
with a fleet key only the fleet can link ids, and with a key per period ids cannot be linked across
periods once the period key is gone. The agent holds only the current period's key: moving to another
period overwrites the old key's bytes (best effort in CPython, which may have copied them, but no
reference to an old key survives).
"""

from __future__ import annotations

import hmac

_ID_LABEL = b"mob-id-v1:"
DEFAULT_ROTATION_S = 86_400
HID_BYTES = 8


def period_index(ts_ms: int, rotation_s: int) -> int:
    """Which key period a timestamp (ms since the epoch) falls in."""
    return (ts_ms // 1000) // rotation_s


def period_key(fleet_key: bytes, index: int) -> bytes:
    """k_p for one period, derived from the fleet key."""
    return hmac.digest(fleet_key, _ID_LABEL + str(index).encode(), "sha256")


class Keyring:
    """The fleet key and the one period key in use; ``hid`` hashes an address seen at a time.

    ``rotation_s`` can change at run time (cloud config); the period key is then derived anew.
    """

    def __init__(self, fleet_key: bytes, rotation_s: int = DEFAULT_ROTATION_S) -> None:
        if len(fleet_key) < 16:
            raise ValueError("the fleet key must be at least 16 bytes")
        if rotation_s <= 0:
            raise ValueError("rotation_s must be positive")
        self._fleet_key = bytes(fleet_key)
        self._rotation_s = rotation_s
        self._period: int | None = None
        self._key = bytearray(32)

    @property
    def rotation_s(self) -> int:
        return self._rotation_s

    @rotation_s.setter
    def rotation_s(self, value: int) -> None:
        if value <= 0:
            raise ValueError("rotation_s must be positive")
        if value != self._rotation_s:
            self._rotation_s = value
            self._destroy()

    @property
    def period(self) -> int | None:
        """The period whose key is held, if any."""
        return self._period

    @property
    def key_id(self) -> str:
        """Telemetry's ``key`` (SPEC §5.3): which period key made the ids, ``k<rotation_s>-<period>``
        (with one fleet key per fleet, the device id names the fleet)."""
        return f"k{self._rotation_s}-{self._period}"

    def _destroy(self) -> None:
        self._key[:] = bytes(32)
        self._period = None

    def _key_for(self, ts_ms: int) -> bytearray:
        index = (ts_ms // 1000) // self._rotation_s
        if index != self._period:
            self._destroy()
            self._key[:] = period_key(self._fleet_key, index)
            self._period = index
        return self._key

    def hid(self, address: bytes, ts_ms: int) -> str:
        """The 16-hex-char hashed id of ``address`` for the period containing ``ts_ms``."""
        return hmac.digest(self._key_for(ts_ms), address, "sha256")[:HID_BYTES].hex()
