"""The ESP32's serial seams: esptool (erase, write, verify the MicroPython image) and mpremote (files,
reset), each run as its own process so a tool's crash or hang is contained and its output reported.

``Esptool`` and ``Board`` are the only code that talks to a serial port. Tests run the real tools:
esptool's offline commands on real images, and mpremote against the MicroPython unix port behind a
pseudo-terminal (tests/provisioning/pty_board.py). The unix port exits on a soft reset (Ctrl-D in its
raw REPL) where a board reboots, and mpremote then waits for a "soft reboot" that never comes, so
``Board(soft_reset=False)`` connects without one (mpremote ``resume``: Ctrl-C still stops a running
program). ``reset()`` is mpremote's hard ``reset`` (``machine.reset()``) on either.

The install plan copies only what differs: the board hashes its files (``hashlib.sha256`` on the
board) and only missing or changed files travel, so a re-run after an interruption is cheap.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from provisioning.exceptions import ImageError, PortError, ToolError

Progress = Callable[[float], None]  # percent 0..100

# Where the MicroPython image goes: the classic ESP32 keeps its second-stage bootloader at 0x1000.
IMAGE_OFFSET = {"esp32": 0x1000, "esp32s2": 0x1000, "esp32s3": 0x0, "esp32c3": 0x0, "esp32c6": 0x0}
_PERCENT = re.compile(rb"(\d{1,3}(?:\.\d+)?)\s?%")
_PORT_TROUBLE = (
    "could not open port",
    "the port is busy",
    "doesn't exist",
    "permission denied",
    "no such file or directory",
    "failed to access",
    "no device found",
)


def _run(tool: str, argv: list[str], *, progress: Progress | None = None, timeout: float = 600) -> str:
    """Run ``argv``; stream its output for percentages; ToolError (PortError for port trouble) on failure."""
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except FileNotFoundError as e:
        raise ToolError(
            tool, argv, None, str(e), hint="install it: pip install 'mobilytics[provision]'"
        ) from e
    out = bytearray()
    assert proc.stdout is not None
    try:
        while chunk := proc.stdout.read1(4096):  # type: ignore[attr-defined]
            out += chunk
            if progress is not None:
                found = _PERCENT.findall(chunk)
                if found:
                    progress(min(100.0, float(found[-1])))
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise ToolError(
            tool, argv, None, out.decode(errors="replace") + f"\n(timed out after {timeout}s)"
        ) from None
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        lowered = text.lower()
        cls = PortError if any(t in lowered for t in _PORT_TROUBLE) else ToolError
        raise cls(tool, argv, proc.returncode, text)
    return text


@dataclass(frozen=True)
class Esptool:
    chip: str = "esp32"
    baud: int = 460800
    command: tuple[str, ...] = (sys.executable, "-m", "esptool")

    def _argv(self, *args: str, port: str | None = None) -> list[str]:
        head = [*self.command, "--chip", self.chip]
        if port is not None:
            head += ["--port", port, "--baud", str(self.baud)]
        return head + list(args)

    @property
    def offset(self) -> int:
        return IMAGE_OFFSET[self.chip]

    def erase(self, port: str, progress: Progress | None = None) -> None:
        _run("esptool", self._argv("erase-flash", port=port), progress=progress)

    def write(self, port: str, image: Path, progress: Progress | None = None) -> None:
        _run("esptool", self._argv("write-flash", hex(self.offset), str(image), port=port), progress=progress)

    def verify(self, port: str, image: Path) -> None:
        _run("esptool", self._argv("verify-flash", hex(self.offset), str(image), port=port))

    # offline ------------------------------------------------------------------------------------------

    def image_info(self, image: Path) -> str:
        return _run("esptool", self._argv("image-info", str(image)))

    def merge(self, out: Path, parts: Iterable[tuple[int, Path]]) -> Path:
        args = ["merge-bin", "-o", str(out)]
        for offset, path in parts:
            args += [hex(offset), str(path)]
        _run("esptool", self._argv(*args))
        return out


def check_image(esptool: Esptool, image: Path) -> str:
    """The image's sha256 after esptool accepted it as an image for this chip (no port needed)."""
    if not image.is_file():
        raise ImageError(
            f"no MicroPython image at {image}", hint="download the ESP32 .bin from micropython.org"
        )
    data = image.read_bytes()
    if not data or data[0] != 0xE9:
        raise ImageError(
            f"{image} is not an ESP firmware image (first byte {data[:1].hex() or 'none'}, expected e9)"
        )
    try:
        esptool.image_info(image)
    except ToolError as e:
        raise ImageError(
            f"esptool rejects {image} as an {esptool.chip} image:\n{e.output.strip()[-400:]}"
        ) from e
    return hashlib.sha256(data).hexdigest()


# ---- files on the board (mpremote) ---------------------------------------------------------------------

_HASH_SCRIPT = """
import hashlib, json
def h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    d = hashlib.sha256()
    while True:
        b = f.read(1024)
        if not b:
            break
        d.update(b)
    f.close()
    return ''.join('%02x' % x for x in d.digest())
print('HASHES' + json.dumps({p: h(p) for p in PATHS}))
"""


@dataclass(frozen=True)
class Board:
    port: str
    soft_reset: bool = True
    command: tuple[str, ...] = (sys.executable, "-m", "mpremote")
    timeout: float = 120

    def _argv(self, *args: str) -> list[str]:
        head = [*self.command, "connect", self.port]
        if not self.soft_reset:
            head.append("resume")
        return head + list(args)

    def run(self, *args: str) -> str:
        return _run("mpremote", self._argv(*args), timeout=self.timeout)

    def hashes(self, paths: list[str]) -> dict[str, str | None]:
        script = f"PATHS = {json.dumps(paths)}\n" + _HASH_SCRIPT
        out = self.run("exec", script)
        marker = out.rfind("HASHES")
        if marker < 0:
            raise ToolError("mpremote", self._argv("exec", "<hash script>"), 0, out)
        return json.loads(out[marker + len("HASHES") :].strip().splitlines()[0])

    def put(self, files: list[tuple[Path, str]]) -> None:
        """Copy (local, remote) pairs in one mpremote session, making parent directories first."""
        if not files:
            return
        dirs = sorted(
            {str(p) for _, r in files for p in PurePosixPath(r).parents if str(p) not in (".", "/")}
        )
        args: list[str] = []
        for d in dirs:
            args += ["exec", f"import os\ntry:\n    os.mkdir({d!r})\nexcept OSError:\n    pass", "+"]
        for local, remote in files:
            args += ["fs", "cp", str(local), f":{remote}", "+"]
        self.run(*args[:-1])

    def reset(self) -> None:
        self.run("reset")


@dataclass(frozen=True)
class InstallFile:
    local: Path
    remote: str
    sha256: str


def plan(files: Iterable[tuple[Path, str]]) -> list[InstallFile]:
    return [InstallFile(p, r, hashlib.sha256(p.read_bytes()).hexdigest()) for p, r in files]


def bundle_files(bundle: Path) -> list[tuple[Path, str]]:
    """A firmware bundle's files (firmware/build.py's manifest), each checked against its manifest hash."""
    manifest_path = bundle / "manifest.json"
    if not manifest_path.is_file():
        raise ImageError(
            f"{bundle} has no manifest.json", hint="build it: python -m firmware.build --out DIR"
        )
    manifest = json.loads(manifest_path.read_text())
    out = []
    for f in manifest["files"]:
        path = bundle / f["path"]
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != f["sha256"]:
            raise ImageError(f"bundle file {f['path']} is missing or does not match the manifest")
        out.append((path, f["path"]))
    out.append((manifest_path, "manifest.json"))
    return out


def install(board: Board, files: list[InstallFile], progress: Progress | None = None) -> list[str]:
    """Copy the files that are missing or differ on the board; the remote paths copied."""
    have = board.hashes([f.remote for f in files])
    todo = [f for f in files if have.get(f.remote) != f.sha256]
    for i in range(0, len(todo), 8):  # a few files per mpremote session keeps the progress bar honest
        board.put([(f.local, f.remote) for f in todo[i : i + 8]])
        if progress is not None:
            progress(100.0 * min(len(todo), i + 8) / len(todo))
    after = board.hashes([f.remote for f in todo])
    bad = [f.remote for f in todo if after.get(f.remote) != f.sha256]
    if bad:
        raise ToolError(
            "mpremote", board._argv("fs", "cp"), 0, f"files differ after copying: {', '.join(bad)}"
        )
    return [f.remote for f in todo]
