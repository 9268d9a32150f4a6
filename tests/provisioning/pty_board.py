"""A serial "board" for mpremote: the MicroPython unix port behind a pseudo-terminal.

MicroPython runs on one pty (its REPL on the pty's slave, cwd = a directory standing in for the
board's flash); a second pty's slave is the "serial port" mpremote opens; a thread relays bytes
between the two masters. When MicroPython exits (the unix port's answer to a soft reset, Ctrl-D in its
raw REPL, or ``machine.reset()``) the harness starts it again on the same directory and counts a boot,
as a board reboots. The unix port has no ``machine.reset``; a two-line stand-in on MICROPYPATH gives
it one (exit 75, as firmware/host/machine.py does), so mpremote's own ``reset`` command works.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import subprocess
import threading
import time
import tty
from pathlib import Path

_MACHINE = """import sys


def reset():
    sys.exit(75)
"""


class PtyBoard:
    def __init__(self, micropython: str, flash: Path) -> None:
        self.micropython = micropython
        self.flash = flash
        self.boots = 0
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._mp_master = -1
        self._port_master, port_slave = pty.openpty()
        tty.setraw(port_slave)
        self.port = os.ttyname(port_slave)
        self._port_slave = port_slave  # kept open so the port exists between mpremote sessions
        self._thread = threading.Thread(target=self._relay, name="pty-board", daemon=True)

    def _boot(self) -> None:
        master, slave = pty.openpty()
        tty.setraw(slave)
        env = {**os.environ, "MICROPYPATH": f".frozen:{self._standins}"}
        self._proc = subprocess.Popen(
            [self.micropython], stdin=slave, stdout=slave, stderr=slave, cwd=self.flash, env=env
        )
        os.close(slave)
        self._mp_master = master
        self.boots += 1

    def start(self) -> PtyBoard:
        self.flash.mkdir(parents=True, exist_ok=True)
        self._standins = self.flash.parent / (self.flash.name + ".standins")
        self._standins.mkdir(exist_ok=True)
        (self._standins / "machine.py").write_text(_MACHINE)
        self._boot()
        self._thread.start()
        time.sleep(0.3)
        return self

    def _relay(self) -> None:
        while not self._stop.is_set():
            r, _, _ = select.select([self._mp_master, self._port_master], [], [], 0.05)
            for fd in r:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # MicroPython exited: its pty is gone; reboot it
                    data = b""
                if fd == self._mp_master and not data:
                    os.close(self._mp_master)
                    if self._proc is not None:
                        self._proc.wait()
                    if not self._stop.is_set():
                        self._boot()
                    break
                if data:
                    os.write(self._port_master if fd == self._mp_master else self._mp_master, data)

    def wait_boots(self, n: int, timeout: float = 5) -> bool:
        deadline = time.monotonic() + timeout
        while self.boots < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.boots >= n

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._thread.join(timeout=5)
        for fd in (self._port_master, self._port_slave):
            with contextlib.suppress(OSError):
                os.close(fd)
