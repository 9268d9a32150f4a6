# BLE advertisement sightings for one scan window. The IRQ handler only
# records (address, type, strongest RSSI, first tick) in a bounded table; the
# scan task turns the table into observations after the window. A phone
# advertising many times in a window is one sighting.
#
# A sighting is one small int (no list per address): ms since the window
# started << 9 | (rssi + 128) << 1 | addr_type. It stays a small int on the
# ESP32 (31 bits) for windows up to 60 s (+ the 2 s grace).
import time

from micropython import const

_MAX_SIGHTINGS = const(64)


class Window:
    def __init__(self, max_sightings=_MAX_SIGHTINGS):
        self.max = max_sightings
        self.seen = {}  # addr bytes -> packed sighting
        self.overflow = 0  # addresses not recorded because the table was full
        self.done = False
        self.t0 = time.ticks_ms()

    def start(self):
        # A new window begins (the table was drained after the last one).
        self.done = False
        self.t0 = time.ticks_ms()

    def on_adv(self, addr_type, addr, rssi):
        # IRQ context: no hashing here, one small allocation at most.
        addr = bytes(addr)  # the IRQ's memoryview is only valid during the call
        s = self.seen.get(addr)
        if s is None:
            if len(self.seen) >= self.max:
                self.overflow += 1
                return
            try:
                dt = time.ticks_diff(time.ticks_ms(), self.t0)
                self.seen[addr] = dt << 9 | (rssi + 128) << 1 | addr_type & 1
            except MemoryError:
                self.overflow += 1  # counted, like a full table
        elif rssi + 128 > (s >> 1 & 0xFF):
            self.seen[addr] = s & ~0x1FE | (rssi + 128) << 1

    def on_done(self):
        self.done = True

    def drain(self):
        # -> iterator of (addr, addr_type, rssi, ticks_ms); empties the table.
        seen = self.seen
        self.seen = {}
        for addr in seen:
            s = seen[addr]
            yield addr, s & 1, (s >> 1 & 0xFF) - 128, time.ticks_add(self.t0, s >> 9)
