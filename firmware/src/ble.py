# BLE advertisement sightings for one scan window. The IRQ handler only
# records (address, type, strongest RSSI, first tick) in a bounded table; the
# scan task turns the table into observations after the window. A phone
# advertising many times in a window is one sighting.
#
# The table is allocated once: the addresses side by side in one bytearray
# (found with bytearray.find, a C loop) and one packed int per sighting in an
# array: ms since the window started << 9 | (rssi + 128) << 1 | addr_type.
# It fits 32 bits for windows up to 60 s (+ the 2 s grace). A sighting
# leaves nothing on the heap (a dict of 64 addresses held ~4 KB in pieces).
import time
from array import array

from micropython import const

_MAX_SIGHTINGS = const(64)
_ADDR = const(6)


class Window:
    def __init__(self, max_sightings=_MAX_SIGHTINGS):
        self.max = max_sightings
        self.n = 0  # sightings in the table
        self.addrs = bytearray(max_sightings * _ADDR)
        self.seen = array("i", bytes(4 * max_sightings))
        self.key = bytearray(_ADDR)
        self.overflow = 0  # addresses not recorded because the table was full
        self.done = False
        self.t0 = time.ticks_ms()

    def start(self):
        # A new window begins (the table was drained after the last one).
        self.done = False
        self.t0 = time.ticks_ms()

    def _find(self, end):
        # The index of self.key in the table, or -1 (a match straddling two
        # addresses is not one).
        i = self.addrs.find(self.key, 0, end)
        while i % _ADDR and i > 0:
            i = self.addrs.find(self.key, i + 1, end)
        return i // _ADDR if i >= 0 else -1

    def on_adv(self, addr_type, addr, rssi):
        # IRQ context: no hashing, nothing kept. addr is only valid during the call.
        self.key[:] = addr
        n = self.n
        i = self._find(n * _ADDR)
        if i < 0:
            if n >= self.max:
                self.overflow += 1
                return
            self.addrs[n * _ADDR : n * _ADDR + _ADDR] = self.key
            self.seen[n] = time.ticks_diff(time.ticks_ms(), self.t0) << 9 | (rssi + 128) << 1 | addr_type & 1
            self.n = n + 1
        else:
            s = self.seen[i]
            if rssi + 128 > (s >> 1 & 0xFF):
                self.seen[i] = s & ~0x1FE | (rssi + 128) << 1

    def on_done(self):
        self.done = True

    def drain(self):
        # -> iterator of (addr, addr_type, rssi, ticks_ms); empties the table.
        # addr is a view of the table, valid until the next window starts.
        mv = memoryview(self.addrs)
        n = self.n
        self.n = 0
        for i in range(n):
            s = self.seen[i]
            yield (
                mv[i * _ADDR : i * _ADDR + _ADDR],
                s & 1,
                (s >> 1 & 0xFF) - 128,
                time.ticks_add(self.t0, s >> 9),
            )
