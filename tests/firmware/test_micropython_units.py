"""Firmware unit tests (tests/firmware/mp/test_*.py) run one by one under the real MicroPython.

The firmware's own tests are MicroPython code: they exercise the modules on the interpreter that
runs them on the board, with the same 100 KB heap.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from firmware.host.paths import micropython_path

MP_TESTS = Path(__file__).parent / "mp"


def _cases() -> list[tuple[str, str]]:
    cases = []
    for f in sorted(MP_TESTS.glob("test_*.py")):
        for name in re.findall(r"^(?:async )?def (test_\w+)", f.read_text(), re.M):
            cases.append((f.stem, name))
    return cases


@pytest.mark.micropython
@pytest.mark.parametrize(("module", "name"), _cases(), ids=lambda v: v)
def test_on_micropython(micropython: str, module: str, name: str, tmp_path: Path) -> None:
    env = {"MICROPYPATH": micropython_path(extra=[MP_TESTS]), "MOB_HOST_FLASH": str(tmp_path)}
    r = subprocess.run(
        [micropython, "-X", "heapsize=100K", str(MP_TESTS / "runner.py"), module, name],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"PASS {name}" in r.stdout, r.stdout
