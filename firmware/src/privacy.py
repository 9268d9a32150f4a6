# Hashed device ids: raw MACs never leave the sensor. Same rule as the edge
# agent (protocol/SPEC.md, privacy):
#   k_p = HMAC-SHA256(fleet_key, b"mob-id-v1:" + str(period_index))
#   period_index = ts_s // rotation_s
#   hid = HMAC-SHA256(k_p, mac).digest()[:8], 16 lowercase hex
# MicroPython has no hmac module: RFC 2104 over hashlib.sha256.
import binascii
import hashlib

from micropython import const

_BLOCK = const(64)


def _pads(key):
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + bytes(_BLOCK - len(key))
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def _hmac(ipad, opad, msg):
    h = hashlib.sha256(ipad)
    h.update(msg)
    inner = h.digest()
    h = hashlib.sha256(opad)
    h.update(inner)
    return h.digest()


def hmac_sha256(key, msg):
    ipad, opad = _pads(key)
    return _hmac(ipad, opad, msg)


class Hasher:
    # Keeps the current period's key (and its pads); the key of a past
    # period is dropped as soon as the period ends.
    def __init__(self, fleet_key, rotation_s=86400):
        self._fleet = fleet_key
        self.rotation_s = rotation_s
        self._period = None
        self._pads = None

    def set_rotation(self, rotation_s):
        if rotation_s != self.rotation_s:
            self.rotation_s = rotation_s
            self._period = None
            self._pads = None

    def period_key(self, period):
        return hmac_sha256(self._fleet, b"mob-id-v1:" + str(period).encode())

    def hid(self, mac, ts_s):
        period = ts_s // self.rotation_s
        if period != self._period:
            self._pads = _pads(self.period_key(period))
            self._period = period
        return binascii.hexlify(_hmac(self._pads[0], self._pads[1], mac)[:8]).decode()


def randomized(addr_type, mac):
    # flags bit0: a BLE random address (addr_type 1) or a locally
    # administered one (bit 1 of the first octet).
    return 1 if addr_type == 1 or mac[0] & 0x02 else 0
