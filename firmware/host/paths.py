"""Where the firmware's pieces are, for CPython code that launches MicroPython."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parent.parent
REPO = FIRMWARE.parent
SRC = FIRMWARE / "src"
HOST = FIRMWARE / "host"


def micropython_path(code: Path | None = None, extra: Iterable[Path] = ()) -> str:
    """MICROPYPATH: the interpreter's frozen modules (asyncio), the host stand-ins (they replace
    the unix port's own `machine`), then the firmware code: a built bundle, or the sources plus
    the repository root for `protocol`."""
    parts = [".frozen", *map(str, extra), str(HOST)]
    parts += [str(code)] if code is not None else [str(SRC), str(REPO)]
    return ":".join(parts)
