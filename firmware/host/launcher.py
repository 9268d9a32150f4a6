"""Run the firmware on the host the way a board runs it: MicroPython with a 100 KB heap, the host
stand-ins for the ESP32 modules, a flash directory that outlives resets.

``machine.reset()`` in the stand-in ends MicroPython with RESET_EXIT_CODE; the launcher then starts
it again on the same flash directory, as the chip reboots. Any other exit ends the launcher.

Before every boot the launcher plays ESP-IDF's second-stage bootloader over the two OTA slots that
firmware/host/esp32.py keeps in ``<flash>/.host/`` (``bootloader``): the slot otadata selects boots;
a slot in ``new`` becomes ``pending_verify`` and boots; a slot found again in ``pending_verify``
(its boot was never confirmed with ``mark_app_valid_cancel_rollback``) becomes ``aborted`` and the
other, valid slot boots; a slot whose image does not unpack becomes ``invalid``. A slot's image is a
firmware bundle as a ustar archive (``firmware.build.image``); booting it means unpacking it into
``<flash>/.host/<slot>.app/`` and running that directory's ``main.py`` (imported by
``paths.RUN_MAIN``, the directory on MICROPYPATH relative to the flash: short module paths). At the
first boot of a flash the ``--code`` bundle is written into ``ota_0`` (the factory flashing). The
reset cause is left as the reset that happened (a rollback is not a reset cause on ESP32 either).

    python -m firmware.host.launcher --flash DIR [--code BUNDLE] [--crowd FILE] [--nmea FILE]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from firmware.build import image
from firmware.host.paths import RUN_MAIN, compiled_stand_ins, micropython_path

RESET_EXIT_CODE = 75  # firmware/host/machine.py
# The heap of issue 5's target (see firmware/README.md, "Heap"); MOB_FW_HEAP overrides it.
HEAP = os.environ.get("MOB_FW_HEAP", "100K")
# firmware/src run as sources is compiled by MicroPython itself, which needs more: the CLI's default
# without --code.
SOURCES_HEAP = "160K"
# TLS: the unix port's mbedTLS allocates its session buffers from MicroPython's GC heap; on an ESP32
# the port uses ESP-IDF's mbedTLS, whose memory comes from the IDF heap beside MicroPython's. A board
# run over mqtts:// gets this heap, so TLS is not refused memory a chip would not take from its heap.
TLS_HEAP = "160K"
# A boot that starts in update mode (a job waiting in otajob.json, firmware/src/otajob.py) runs only
# the updater, which must fit the target heap whatever MOB_FW_HEAP gives the app.
UPDATE_HEAP = os.environ.get("MOB_FW_UPDATE_HEAP", "100K")
SLOTS = ("ota_0", "ota_1")


class NoBootableSlot(RuntimeError):
    """Both slots are invalid, aborted or empty: on a board, the bootloader halts."""


def bootloader(flash: Path, factory: Path) -> Path:
    """One boot's slot choice (module docstring); the directory of the code to run."""
    host = flash / ".host"
    otadata = host / "otadata.json"
    if not otadata.exists():
        host.mkdir(exist_ok=True)
        (host / "ota_0.bin").write_bytes(image(factory))
        d = {"boot": "ota_0", "running": "ota_0", "state": {"ota_0": "valid", "ota_1": "undefined"}}
    else:
        d = json.loads(otadata.read_text())
    booted = None
    for label in (d["boot"], *(s for s in SLOTS if s != d["boot"])):
        state = d["state"].get(label, "undefined")
        if state == "pending_verify":
            d["state"][label] = "aborted"  # booted once and never confirmed: roll back
            continue
        if state not in ("new", "valid"):
            continue
        try:
            app = _unpack(host / f"{label}.bin", host / f"{label}.app")
        except (OSError, tarfile.TarError):
            d["state"][label] = "invalid"
            continue
        if state == "new":
            d["state"][label] = "pending_verify"
        d["boot"] = d["running"] = label
        booted = app
        break
    tmp = otadata.with_suffix(".tmp")
    tmp.write_text(json.dumps(d))
    os.replace(tmp, otadata)
    if booted is None:
        raise NoBootableSlot(f"no bootable slot in {host}: {d['state']}")
    return booted


def _unpack(slot: Path, app: Path) -> Path:
    if app.exists():
        shutil.rmtree(app)
    with tarfile.open(fileobj=io.BytesIO(slot.read_bytes()), mode="r:") as tar:
        if "main.py" not in tar.getnames():
            raise tarfile.TarError(f"{slot.name} holds no firmware bundle")
        tar.extractall(app, filter="data")
    return app


def update_pending(flash: Path, code: Path | None) -> bool:
    """Whether this boot of ``code`` starts in update mode: an offer to take, or a job waiting for
    its download (firmware/src/otajob.py's files, the same test as ``otajob.main``)."""
    try:
        job = json.loads((flash / "otajob.json").read_text())
    except (OSError, ValueError):
        return False
    if "offer" in job:
        return True  # an offer the app saved: taken and verified in update mode
    return job.get("stage") == "update" and (code is None or f"{job.get('slot')}.app" != code.name)


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
    update_heap: str = UPDATE_HEAP
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

    def env(self, code: Path | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOB_HOST_")}
        env.update(
            MICROPYPATH=micropython_path(code or self.code),
            MOB_HOST_FLASH=str(self.flash),
            MOB_HOST_CTL=str(self.ctl),
            MOB_HOST_UID=self.uid,
        )
        if self.crowd is not None:
            env["MOB_HOST_CROWD"] = str(self.crowd)
        if self.nmea is not None:
            env["MOB_HOST_NMEA"] = str(self.nmea)
        return env

    def argv(self, code: Path | None = None) -> list[str]:
        heap = self.update_heap if update_pending(self.flash, code) else self.heap
        return [self.micropython, "-X", f"heapsize={heap}", str(compiled_stand_ins() / RUN_MAIN)]

    def run_once(self) -> int:
        """One boot, until MicroPython exits; its exit code. A built bundle boots from its OTA slot
        (``bootloader``); the sources (no ``code``) run as they are."""
        # The booted slot as a path from the cwd, the flash (paths.RUN_MAIN: short module paths).
        code = bootloader(self.flash, self.code).relative_to(self.flash) if self.code is not None else None
        out = self.log.open("ab") if self.log else None
        try:
            self._proc = subprocess.Popen(
                self.argv(code), cwd=self.flash, env=self.env(code), stdout=out, stderr=subprocess.STDOUT
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

    def pause_at(self, point: str) -> None:
        """Freeze the firmware at a named flash operation (firmware/host/_hostenv.py, ``pause``)."""
        (self.ctl / "paused").unlink(missing_ok=True)
        (self.ctl / "pause").write_text(point)

    @property
    def paused(self) -> str | None:
        """The point the firmware froze at, once it did; cutting the power there clears it."""
        p = self.ctl / "paused"
        return p.read_text() if p.exists() else None

    def cut_paused(self) -> None:
        """Cut the power of the frozen firmware; the next boot runs on (no pause pending)."""
        (self.ctl / "pause").unlink(missing_ok=True)
        (self.ctl / "paused").unlink(missing_ok=True)
        self.power_cut()


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
