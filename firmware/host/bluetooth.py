# Host stand-in for MicroPython's `bluetooth` module (the scan half of the
# central role). Not shipped. BLE().gap_scan() delivers _IRQ_SCAN_RESULT
# events from a scripted crowd, then _IRQ_SCAN_DONE when the duration ends,
# asynchronously like the ESP32 port (which runs the IRQ handler from the
# scheduler): here an asyncio task owned by the scan plays that role.
#
# Crowd file (MOB_HOST_CROWD), one advertisement per line, in time order,
# '#' comments:
#   <offset_ms> <addr_type 0|1> <mac aa:bb:cc:dd:ee:ff> <rssi> [adv_data hex]
# Offsets are from the first scan; the script loops with the period given
# by a line "period <ms>" (default: last offset + 1000). The file is read
# as it plays, one line at a time: on the board the crowd is in the air,
# not in the heap, so here it costs the heap one line however big it is.
import asyncio
import time

import _hostenv

_IRQ_SCAN_RESULT = 5
_IRQ_SCAN_DONE = 6


class BLE:
    _instance = None

    def __new__(cls):
        # bluetooth.BLE() is a singleton on the ports.
        if cls._instance is None:
            cls._instance = object.__new__(cls)
            cls._instance._active = False
            cls._instance._irq = None
            cls._instance._task = None
            cls._instance._f = None
        return cls._instance

    def active(self, v=None):
        if v is None:
            return self._active
        self._active = bool(v)
        if not v:
            self.gap_scan(None)

    def irq(self, handler):
        self._irq = handler

    def gap_scan(self, duration_ms, *_):  # interval_us, window_us, active: not simulated
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
        if self._f is None:
            self._open()
        self._task = asyncio.create_task(self._scan(duration_ms))

    def _open(self):
        # One pass for the period and whether there is anything to play.
        self._t0 = time.ticks_ms()
        self._round = 0
        self._next = None
        self._period = None
        last = None
        path = _hostenv.env("MOB_HOST_CROWD")
        if path is None:
            self._f = ()
            return
        self._f = open(path)
        for line in self._f:
            p = line.split()
            if p and p[0] == "period":
                self._period = int(p[1])
            elif p and p[0][0] != "#":
                last = int(p[0])
        if last is None:
            self._f.close()
            self._f = ()
        elif self._period is None:
            self._period = last + 1000
        else:
            self._f.seek(0)

    def _read(self):
        # The next advertisement of the looped script:
        # (at_ms since the first scan, addr_type, mac, rssi, adv_data).
        while True:
            line = self._f.readline()
            if not line:
                self._f.seek(0)
                self._round += 1
                continue
            p = line.split()
            if p and p[0] != "period" and p[0][0] != "#":
                return (
                    self._round * self._period + int(p[0]),
                    int(p[1]),
                    bytes(int(x, 16) for x in p[2].split(":")),
                    int(p[3]),
                    bytes.fromhex(p[4]) if len(p) > 4 else b"\x02\x01\x06",
                )

    def _done(self):
        if self._irq:
            self._irq(_IRQ_SCAN_DONE, ())

    async def _scan(self, duration_ms):
        start = time.ticks_ms()
        if self._f:
            # Skip what was advertised while we were not scanning.
            if self._next is None:
                self._next = self._read()
            while self._next[0] < time.ticks_diff(start, self._t0):
                self._next = self._read()
        try:
            while True:
                now = time.ticks_diff(time.ticks_ms(), self._t0)
                left = duration_ms - time.ticks_diff(time.ticks_ms(), start) if duration_ms else 1000
                if left <= 0:
                    break
                if not self._f:
                    await asyncio.sleep_ms(20)
                    continue
                at, addr_type, mac, rssi, adv = self._next
                if at > now:
                    await asyncio.sleep_ms(min(at - now, max(left, 0)))
                    continue
                self._next = self._read()
                if self._irq:
                    try:
                        # 0: ADV_IND
                        self._irq(_IRQ_SCAN_RESULT, (addr_type, memoryview(mac), 0, rssi, memoryview(adv)))
                    except Exception as e:  # the port prints IRQ handler errors and scans on
                        print("bluetooth: IRQ handler raised", repr(e))
        except asyncio.CancelledError:
            return
        self._task = None
        self._done()
