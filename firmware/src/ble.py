# BLE advertisement sightings for one scan window. The IRQ handler only
# records (address, type, strongest RSSI, first tick) in a bounded table; the
# scan task turns the table into observations after the window. A phone
# advertising many times in a window is one sighting.
import time

from micropython import const

_MAX_SIGHTINGS = const(64)


class Window:
    def __init__(self, max_sightings=_MAX_SIGHTINGS):
        self.max = max_sightings
        self.seen = {}  # addr bytes -> [addr_type, rssi, ticks_ms]
        self.overflow = 0  # addresses not recorded because the table was full
        self.done = False

    def on_adv(self, addr_type, addr, rssi):
        # IRQ context: no hashing here, one small allocation at most.
        addr = bytes(addr)  # the IRQ's memoryview is only valid during the call
        s = self.seen.get(addr)
        if s is None:
            if len(self.seen) >= self.max:
                self.overflow += 1
                return
            try:
                self.seen[addr] = [addr_type, rssi, time.ticks_ms()]
            except MemoryError:
                self.overflow += 1  # counted, like a full table
        elif rssi > s[1]:
            s[1] = rssi

    def on_done(self):
        self.done = True

    def drain(self):
        # -> iterator of (addr, addr_type, rssi, ticks_ms); empties the table.
        seen = self.seen
        self.seen = {}
        for addr in seen:
            s = seen[addr]
            yield addr, s[0], s[1], s[2]
