"""Run the firmware on the host the way a board runs it: MicroPython with a 100 KB heap, the host
stand-ins for the ESP32 modules, a flash directory that outlives resets.

``machine.reset()`` in the stand-in ends MicroPython with RESET_EXIT_CODE; the launcher then starts
it again on the same flash directory, as the chip reboots. Any other exit ends the launcher.

    python -m firmware.host.launcher --flash DIR [--code BUNDLE] [--crowd FILE] [--nmea FILE]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from firmware.host.paths import SRC, micropython_path

RESET_EXIT_CODE = 75  # firmware/host/machine.py
# The heap of issue 5's target (see firmware/README.md, "Heap"); MOB_FW_HEAP overrides it.
HEAP = os.environ.get("MOB_FW_HEAP", "100K")
# firmware/src run as sources is compiled by MicroPython itself, which needs more: the CLI's default
# without --code.
SOURCES_HEAP = "160K"


def find_micropython() -> str:
    beside = Path(sys.executable).parent / "micropython"
    return str(beside) if beside.exists() else "micropython"


@dataclass
class Board:
    """One simulated ESP32: its flash, its scenario controls, and the MicroPython process."""

    flash: Path
    code: Path | None = None  # a built bundle; None runs firmware/src with the repo's protocol
    ctl: Path | None = None
    crowd: Path | None = None
    nmea: Path | None = None
    uid: str = "24a160c0ffee"
    heap: str = HEAP
    micropython: str = field(default_factory=find_micropython)
    log: Path | None = None
    boots: int = 0
    _proc: subprocess.Popen[bytes] | None = None
    _thread: threading.Thread | None = None
    _stopping: bool = False
    _power_cycle: bool = False
    exit_code: int | None = None

    def __post_init__(self) -> None:
        self.flash.mkdir(parents=True, exist_ok=True)
        if self.ctl is None:
            self.ctl = self.flash.parent / (self.flash.name + ".ctl")
        self.ctl.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOB_HOST_")}
        env.update(
            MICROPYPATH=micropython_path(self.code),
            MOB_HOST_FLASH=str(self.flash),
            MOB_HOST_CTL=str(self.ctl),
            MOB_HOST_UID=self.uid,
        )
        if self.crowd is not None:
            env["MOB_HOST_CROWD"] = str(self.crowd)
        if self.nmea is not None:
            env["MOB_HOST_NMEA"] = str(self.nmea)
        return env

    def argv(self) -> list[str]:
        main = (self.code or SRC) / "main.py"
        return [self.micropython, "-X", f"heapsize={self.heap}", str(main)]

    def run_once(self) -> int:
        """One boot, until MicroPython exits; its exit code."""
        out = self.log.open("ab") if self.log else None
        try:
            self._proc = subprocess.Popen(
                self.argv(), cwd=self.flash, env=self.env(), stdout=out, stderr=subprocess.STDOUT
            )
            self.boots += 1
            return self._proc.wait()
        finally:
            if out:
                out.close()

    def run(self) -> int:
        """Boot, and boot again after every machine.reset(), until another exit or stop()."""
        while True:
            rc = self.run_once()
            if self._power_cycle and not self._stopping:
                self._power_cycle = False
                continue
            if rc != RESET_EXIT_CODE or self._stopping:
                self.exit_code = rc
                return rc

    # Background use (tests, benchmarks).
    def start(self) -> Board:
        self._stopping = False
        self._thread = threading.Thread(target=self.run, name=f"board:{self.flash.name}", daemon=True)
        self._thread.start()
        return self

    def power_cut(self) -> None:
        """Power off and on: SIGKILL (nothing flushed), then a fresh boot (a power-on)."""
        if self._proc is not None and self._proc.poll() is None:
            self._power_cycle = True
            self._proc.kill()

    def terminate(self) -> None:
        """Ask the running boot to end and boot no more; does not wait (safe in a signal handler)."""
        self._stopping = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        self._stopping = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # Scenario controls (files the stand-ins read).
    def wifi(self, up: bool) -> None:
        p = self.ctl / "wifi_down"
        if up:
            p.unlink(missing_ok=True)
        else:
            p.touch()

    def watchdog_reset(self) -> None:
        (self.ctl / "reset").touch()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flash", type=Path, required=True, help="flash directory (holds device.json)")
    ap.add_argument("--code", type=Path, help="built bundle directory (default: firmware/src)")
    ap.add_argument("--crowd", type=Path, help="scripted BLE crowd file")
    ap.add_argument("--nmea", type=Path, help="NMEA sentences for the GPS UART")
    ap.add_argument("--heap", help=f"MicroPython heap (default {HEAP}, {SOURCES_HEAP} without --code)")
    args = ap.parse_args(argv)
    heap = args.heap or (HEAP if args.code else SOURCES_HEAP)
    board = Board(flash=args.flash, code=args.code, crowd=args.crowd, nmea=args.nmea, heap=heap)
    # Whoever runs the launcher (a shell, the demo fleet's supervisor) stops the board with it: without
    # this, SIGTERM ended the launcher and left MicroPython running on its own.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: board.terminate())
    rc = board.run()
    return 0 if board._stopping else rc


if __name__ == "__main__":
    sys.exit(main())
