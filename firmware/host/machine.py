# Host stand-in for the ESP32 port's `machine` module (MicroPython unix port).
# Not shipped. reset() really ends the program with RESET_EXIT_CODE; the
# launcher (firmware/host/launcher.py) starts it again on the same flash dir,
# and the next boot's reset_cause() tells what happened, as on the chip.
# Only what the firmware uses (the ESP32's is C, outside the heap; this one
# is loaded into the firmware's heap, so it stays small): reset, reset_cause,
# unique_id, WDT, UART. No RTC: hal keeps the host's clock.
import os
import sys
import time

import _hostenv

# Values of the ESP32 port.
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

RESET_EXIT_CODE = 75

_cause = None


def reset_cause():
    global _cause
    if _cause is None:
        p = _hostenv.state_path("reset_cause")
        try:
            with open(p) as f:
                _cause = int(f.read())
            os.remove(p)
        except (OSError, ValueError):
            # No note left by a previous run: the process was started (or
            # killed and started again), which on the chip is a power-on.
            _cause = PWRON_RESET
    return _cause


def _restart(cause):
    reset_cause()  # consume this boot's note before leaving the next one
    with open(_hostenv.state_path("reset_cause"), "w") as f:
        f.write(str(cause))
    sys.stdout.write("machine: reset (cause %d)\n" % cause)
    raise SystemExit(RESET_EXIT_CODE)


def reset():
    # esp_restart(): the next boot reports SOFT_RESET on the ESP32 port.
    _restart(SOFT_RESET)


def unique_id():
    uid = _hostenv.env("MOB_HOST_UID", "24a160c0ffee")
    return bytes(int(uid[i : i + 2], 16) for i in range(0, len(uid), 2))


class WDT:
    # The test asks for a watchdog reset by dropping a `reset` control file;
    # it fires at the next feed, as a hung loop would on the board.
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self._last = time.ticks_ms()

    def feed(self):
        now = time.ticks_ms()
        late = time.ticks_diff(now, self._last) > self.timeout
        self._last = now
        if _hostenv.ctl_take("reset") or late:
            _restart(WDT_RESET)


class UART:
    # A GPS receiver on a UART: yields the sentences of MOB_HOST_NMEA, one
    # line every `line_ms` (default 100 ms, ~10 sentences/s at 9600 baud),
    # looping over the file. Non-blocking like the ESP32 UART: any(),
    # readline() returning None when nothing is waiting.
    def __init__(self, id, baudrate=9600, **kw):
        self._path = _hostenv.env("MOB_HOST_NMEA")
        self._line_ms = int(_hostenv.env("MOB_HOST_NMEA_LINE_MS", "100"))
        self._f = None
        self._next = time.ticks_ms()

    def _due(self):
        return self._path is not None and time.ticks_diff(time.ticks_ms(), self._next) >= 0

    def any(self):
        return 1 if self._due() else 0

    def readline(self):
        if not self._due():
            return None
        if self._f is None:
            self._f = open(self._path, "rb")
        line = self._f.readline()
        if not line:
            self._f.seek(0)
            line = self._f.readline()
            if not line:
                return None
        self._next = time.ticks_add(self._next, self._line_ms)
        if time.ticks_diff(time.ticks_ms(), self._next) > 1000:
            self._next = time.ticks_ms()  # don't burst after a stall
        return line
