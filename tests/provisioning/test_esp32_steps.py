"""ESP32 steps against real tools: mpremote on the MicroPython unix port behind a pty; esptool's
offline commands on a real ESP32 app image (elf2image of a minimal Xtensa ELF); the serial esptool
commands on a port that does not exist, for their error handling."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provisioning import esp32
from provisioning.cli import app
from provisioning.exceptions import ImageError, PortError
from tests.provisioning.pty_board import PtyBoard

FLEET_KEY = "ab" * 32


def minimal_elf(path: Path) -> Path:
    """An ELF32 Xtensa executable: a 16-byte .text (a `j .` loop) in the ESP32's IRAM, one PT_LOAD."""
    text = bytes([0x06, 0xFF, 0xFF]) + b"\x00" * 13
    addr = 0x40080000
    shstr = b"\x00.text\x00.shstrtab\x00"
    ph_off, text_off = 52, 52 + 32
    shstr_off = text_off + len(text)
    sh_off = (shstr_off + len(shstr) + 3) & ~3
    ident = b"\x7fELF" + bytes([1, 1, 1]) + b"\x00" * 9
    eh = ident + struct.pack("<HHIIIIIHHHHHH", 2, 94, 1, addr, ph_off, sh_off, 0, 52, 32, 1, 40, 3, 2)
    ph = struct.pack("<IIIIIIII", 1, text_off, addr, addr, len(text), len(text), 5, 4)
    sections = b"\x00" * 40
    sections += struct.pack("<IIIIIIIIII", 1, 1, 6, addr, text_off, len(text), 0, 0, 4, 0)
    sections += struct.pack("<IIIIIIIIII", 7, 3, 0, 0, shstr_off, len(shstr), 0, 0, 1, 0)
    body = eh + ph + text + shstr
    path.write_bytes(body + b"\x00" * (sh_off - len(body)) + sections)
    return path


@pytest.fixture(scope="module")
def app_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("image")
    elf = minimal_elf(d / "app.elf")
    subprocess.run(
        [sys.executable, "-m", "esptool", "--chip", "esp32", "elf2image", "-o", str(d / "app.bin"), str(elf)],
        check=True,
        capture_output=True,
    )
    return d / "app.bin"


def test_image_checks_and_merge_on_a_real_image(app_image: Path, tmp_path: Path) -> None:
    tool = esp32.Esptool()
    assert esp32.check_image(tool, app_image) == hashlib.sha256(app_image.read_bytes()).hexdigest()
    assert "Validation hash" in tool.image_info(app_image)
    merged = tool.merge(tmp_path / "merged.bin", [(0x1000, app_image)])
    data = merged.read_bytes()
    assert data[0x1000 : 0x1000 + len(app_image.read_bytes())] == app_image.read_bytes()

    broken = tmp_path / "broken.bin"
    broken.write_bytes(app_image.read_bytes()[:40])
    with pytest.raises(ImageError, match="esptool rejects"):
        esp32.check_image(tool, broken)
    not_image = tmp_path / "notes.txt"
    not_image.write_text("hello")
    with pytest.raises(ImageError, match="expected e9"):
        esp32.check_image(tool, not_image)
    with pytest.raises(ImageError, match="no MicroPython image"):
        esp32.check_image(tool, tmp_path / "missing.bin")


def test_flash_on_a_missing_port_is_a_port_error(app_image: Path, tmp_path: Path) -> None:
    with pytest.raises(PortError) as e:
        esp32.Esptool().erase("/dev/ttyNOPE-mobilytics")
    assert "--port" in e.value.argv
    result = CliRunner().invoke(
        app,
        [
            "--workdir",
            str(tmp_path),
            "--json",
            "esp32",
            "flash",
            "--port",
            "/dev/ttyNOPE",
            "-d",
            "bb-0001",
            "--image",
            str(app_image),
        ],
    )
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["ok"] is False
    assert out["type"] == "PortError"
    assert "dialout" in out["hint"]
    state = json.loads((tmp_path / "bb-0001" / "state.json").read_text())
    assert "flash" not in state["steps"]


def make_bundle(d: Path, files: dict[str, bytes]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, data in files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data)
        entries.append({"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    (d / "manifest.json").write_text(json.dumps({"version": "0.0.1", "files": entries}))
    return d


@pytest.fixture
def board(micropython: str, tmp_path: Path) -> Iterator[PtyBoard]:
    b = PtyBoard(micropython, tmp_path / "flash").start()
    yield b
    b.stop()


def install(workdir: Path, board: PtyBoard, bundle: Path) -> dict:
    result = CliRunner().invoke(
        app,
        [
            "--workdir",
            str(workdir),
            "--json",
            "esp32",
            "install",
            "--port",
            board.port,
            "-d",
            "bb-0042",
            "--bundle",
            str(bundle),
            "--fleet-key",
            FLEET_KEY,
            "--mqtt-host",
            "broker.local",
            "--no-soft-reset",
        ],
    )
    assert result.exit_code == 0, result.stdout + str(result.exception)
    return json.loads(result.stdout)


@pytest.mark.micropython
def test_install_copies_bundle_identity_and_config_then_only_what_changed(
    board: PtyBoard, tmp_path: Path
) -> None:
    bundle = make_bundle(
        tmp_path / "bundle", {"main.py": b"print('hi')\n", "lib/app.mpy": b"M\x06" + b"x" * 3000}
    )
    work = tmp_path / "work"

    first = install(work, board, bundle)
    assert sorted(first["copied"]) == [
        "device.json",
        "device.key.der",
        "lib/app.mpy",
        "main.py",
        "manifest.json",
    ]
    assert (board.flash / "lib" / "app.mpy").read_bytes() == (bundle / "lib" / "app.mpy").read_bytes()
    on_board = (board.flash / "device.key.der").read_bytes()
    assert on_board == (work / "bb-0042" / "esp32" / "device.key.der").read_bytes()
    doc = json.loads((board.flash / "device.json").read_text())
    assert doc["device_id"] == "bb-0042"
    assert doc["mqtt"]["host"] == "broker.local"
    assert doc["mqtt"]["tls"] is True
    assert doc["fleet_key"] == FLEET_KEY
    assert board.wait_boots(2)  # mpremote's reset (machine.reset()) rebooted it

    again = install(work, board, bundle)
    assert again["copied"] == []

    (bundle / "main.py").write_bytes(b"print('v2')\n")
    make_bundle(
        bundle, {"main.py": b"print('v2')\n", "lib/app.mpy": (bundle / "lib" / "app.mpy").read_bytes()}
    )
    (board.flash / "device.json").write_text("{}")  # a half-written file from an interrupted copy
    third = install(work, board, bundle)
    assert sorted(third["copied"]) == ["device.json", "main.py", "manifest.json"]
    assert (board.flash / "main.py").read_bytes() == b"print('v2')\n"


@pytest.mark.micropython
def test_install_refuses_a_bundle_that_does_not_match_its_manifest(board: PtyBoard, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle", {"main.py": b"print('hi')\n"})
    (bundle / "main.py").write_bytes(b"tampered")
    result = CliRunner().invoke(
        app,
        [
            "--workdir",
            str(tmp_path / "w"),
            "esp32",
            "install",
            "--port",
            board.port,
            "-d",
            "bb-0042",
            "--bundle",
            str(bundle),
            "--fleet-key",
            FLEET_KEY,
            "--mqtt-host",
            "h",
            "--no-soft-reset",
        ],
    )
    assert result.exit_code == 1
    assert "does not match the manifest" in result.stdout
    assert not (board.flash / "main.py").exists()
