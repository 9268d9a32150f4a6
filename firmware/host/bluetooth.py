# Host stand-in for MicroPython's `bluetooth` module (the scan half of the
# central role). Not shipped. BLE().gap_scan() delivers _IRQ_SCAN_RESULT
# events from a scripted crowd, then _IRQ_SCAN_DONE when the duration ends,
# asynchronously like the ESP32 port (which runs the IRQ handler from the
# scheduler): here an asyncio task owned by the scan plays that role.
#
# Crowd file (MOB_HOST_CROWD), one advertisement per line, '#' comments:
#   <offset_ms> <addr_type 0|1> <mac aa:bb:cc:dd:ee:ff> <rssi> [adv_data hex]
# Offsets are from the first scan; the script loops with the period given
# by a line "period <ms>" (default: last offset + 1000).
import asyncio
import time

import _hostenv

_IRQ_SCAN_RESULT = 5
_IRQ_SCAN_DONE = 6

ADV_IND = 0


def _parse_mac(s):
    return bytes(int(p, 16) for p in s.split(":"))


def _load(path):
    events = []
    period = 0
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] == "#":
                continue
            parts = line.split()
            if parts[0] == "period":
                period = int(parts[1])
                continue
            adv = bytes.fromhex(parts[4]) if len(parts) > 4 else b"\x02\x01\x06"
            events.append((int(parts[0]), int(parts[1]), _parse_mac(parts[2]), int(parts[3]), adv))
    events.sort(key=lambda e: e[0])
    if not period:
        period = (events[-1][0] if events else 0) + 1000
    return events, period


class BLE:
    _instance = None

    def __new__(cls):
        # bluetooth.BLE() is a singleton on the ports.
        if cls._instance is None:
            cls._instance = object.__new__(cls)
            cls._instance._init()
        return cls._instance

    def _init(self):
        self._active = False
        self._irq = None
        self._task = None
        self._events = None
        self._t0 = None
        self._cursor = 0  # absolute index into the looped script

    def active(self, v=None):
        if v is None:
            return self._active
        self._active = bool(v)
        if not v:
            self.gap_scan(None)

    def irq(self, handler):
        self._irq = handler

    def config(self, *args, **kw):
        if args and args[0] == "mac":
            return (0, b"\x24\xa1\x60\xc0\xff\xef")
        return None

    def gap_scan(self, duration_ms, interval_us=1280000, window_us=11250, active=False):
        if duration_ms is None:
            if self._task is not None:
                self._task.cancel()
                self._task = None
                self._done()
            return
        if not self._active:
            raise OSError(19)  # ENODEV, as when the controller is off
        if self._task is not None:
            raise OSError(114)  # EALREADY
        if self._events is None:
            path = _hostenv.env("MOB_HOST_CROWD")
            self._events, self._period = _load(path) if path else ([], 1000)
            self._t0 = time.ticks_ms()
        self._task = asyncio.create_task(self._scan(duration_ms))

    def _done(self):
        if self._irq:
            self._irq(_IRQ_SCAN_DONE, ())

    async def _scan(self, duration_ms):
        start = time.ticks_ms()
        events = self._events
        n = len(events)
        # Skip what was advertised while we were not scanning.
        while n:
            rnd, i = divmod(self._cursor, n)
            at = rnd * self._period + events[i][0]
            if at >= time.ticks_diff(start, self._t0):
                break
            self._cursor += 1
        try:
            while True:
                now = time.ticks_diff(time.ticks_ms(), self._t0)
                if duration_ms and time.ticks_diff(time.ticks_ms(), start) >= duration_ms:
                    break
                if not n:
                    await asyncio.sleep_ms(20)
                    continue
                rnd, i = divmod(self._cursor, n)
                at = rnd * self._period + events[i][0]
                if at > now:
                    wait = at - now
                    if duration_ms:
                        left = duration_ms - time.ticks_diff(time.ticks_ms(), start)
                        wait = min(wait, max(left, 0))
                    await asyncio.sleep_ms(wait)
                    continue
                self._cursor += 1
                _, addr_type, mac, rssi, adv = events[i]
                if self._irq:
                    try:
                        data = (addr_type, memoryview(mac), ADV_IND, rssi, memoryview(adv))
                        self._irq(_IRQ_SCAN_RESULT, data)
                    except Exception as e:  # the port prints IRQ handler errors and scans on
                        print("bluetooth: IRQ handler raised", repr(e))
        except asyncio.CancelledError:
            return
        self._task = None
        self._done()
