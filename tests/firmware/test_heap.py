"""The heap target of issue 5: the firmware should run in `micropython -X heapsize=100K`.

Not met yet (strict xfail, so this turns red when it is): loading the bundle's .mpy files from a
filesystem puts their bytecode and qstrs in the heap: 73.4 KB once `app` is imported (host stand-ins
included, built-in C on the board), before the node's two 2.5 KB message buffers. At 100K telemetry
now flows with a small crowd, but the live heap reaches 93-95 KB, so the broker tests run at
MOB_FW_HEAP (160K). See firmware/README.md, "Heap".
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from firmware import build
from firmware.host.paths import micropython_path

pytestmark = pytest.mark.micropython

PROBE = "import gc\nimport app\ngc.collect()\nprint(gc.mem_alloc())\n"


def imported_heap(micropython: str, bundle: Path, heap: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [micropython, "-X", f"heapsize={heap}", "-c", PROBE],
        capture_output=True,
        text=True,
        env={"MICROPYPATH": micropython_path(bundle)},
        cwd=tmp_path,
        timeout=60,
    )


def test_imports_fit_in_160k_with_room_to_run(micropython: str, tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    build.build(bundle)
    r = imported_heap(micropython, bundle, "160K", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert int(r.stdout) < 110 * 1024


@pytest.mark.xfail(strict=True, reason="issue 5's 100K heap target is not met yet (see module docstring)")
def test_imports_fit_in_100k(micropython: str, tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    build.build(bundle)
    r = imported_heap(micropython, bundle, "100K", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert int(r.stdout) < 70 * 1024
