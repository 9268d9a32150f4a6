"""Where the firmware's pieces are, for CPython code that launches MicroPython."""

from __future__ import annotations

import hashlib
import os
import platform
import tempfile
from collections.abc import Iterable
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parent.parent
REPO = FIRMWARE.parent
SRC = FIRMWARE / "src"
HOST = FIRMWARE / "host"
# The modules MicroPython imports from HOST: the ESP32's `machine`, `network`, `bluetooth`, `esp32`.
STAND_INS = ("_esp32flash", "_hostenv", "bluetooth", "esp32", "machine", "network")
# The script the launcher runs, beside the stand-ins (``compiled_stand_ins``): MicroPython puts a
# script's directory first on sys.path as its absolute real path, so main.py run itself would have
# every module found there and interned with that long path as its __file__ (~1.4 KB of the 100K
# heap from a test's flash; a board's are "/app.mpy"). Imported from MICROPYPATH, the booted code
# keeps the path it is given there, relative to the flash (the cwd).
RUN_MAIN = "run_main.py"
# mpy-cross's -march for the machines whose unix port runs native code; others get bytecode.
NATIVE = {"x86_64": "x64"}


def compiled_stand_ins() -> Path:
    """The host stand-ins as .mpy, compiled once per content into a cache directory.

    On a chip those modules are C in the firmware image and take none of MicroPython's heap; imported
    as sources, MicroPython would compile them in the 100 KB heap the firmware is measured in, and
    their parse trees would leave it in pieces. Compiled ahead, only their bytecode is charged, and
    on x86-64 not even that: as machine code the unix port keeps them outside the GC heap, as a
    board's C is (~1 KB more free at every boot, measured; the post-update boot needed it). The
    launcher's script (``RUN_MAIN``) is written there too.
    """
    from firmware.build import compile_module, find_mpy_cross

    mpy_cross = find_mpy_cross()
    march = NATIVE.get(platform.machine())
    digest = hashlib.sha256(str(os.stat(mpy_cross).st_mtime_ns).encode())  # a new mpy-cross recompiles
    digest.update(str(march).encode())
    for name in STAND_INS:
        digest.update((HOST / f"{name}.py").read_bytes())
    digest.update(RUN_MAIN.encode())
    out = Path(tempfile.gettempdir()) / f"mobilytics-host-{digest.hexdigest()[:16]}"
    if out.is_dir():
        return out
    work = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    for name in STAND_INS:
        compile_module(mpy_cross, HOST / f"{name}.py", work / f"{name}.mpy", f"{name}.py", march=march)
    (work / RUN_MAIN).write_text("import main\n")
    try:
        os.rename(work, out)
    except OSError:  # another process compiled them first: theirs are the same
        for f in work.iterdir():
            f.unlink()
        work.rmdir()
    return out


def micropython_path(code: Path | None = None, extra: Iterable[Path] = ()) -> str:
    """MICROPYPATH: the interpreter's frozen modules (asyncio), the host stand-ins (they replace
    the unix port's own `machine`), then the firmware code: a built bundle, or the sources plus
    the repository root for `protocol`."""
    parts = [".frozen", *map(str, extra), str(compiled_stand_ins())]
    parts += [str(code)] if code is not None else [str(SRC), str(REPO)]
    return ":".join(parts)
