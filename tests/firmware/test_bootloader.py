"""The launcher's bootloader step over the esp32 stand-in's otadata, as ESP-IDF's bootloader with
app rollback enabled: new -> pending_verify (boot it); pending_verify again -> aborted (boot the
other slot); an image that does not unpack -> invalid; nothing bootable -> the board halts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware import build
from firmware.host.launcher import NoBootableSlot, bootloader


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fw") / "bundle"
    build.build(out)
    return out


def otadata(flash: Path) -> dict:
    return json.loads((flash / ".host" / "otadata.json").read_text())


def test_first_boot_flashes_the_factory_bundle_into_ota_0(tmp_path: Path, factory: Path) -> None:
    app = bootloader(tmp_path, factory)
    assert app == tmp_path / ".host" / "ota_0.app"
    assert (app / "main.py").read_bytes() == (factory / "main.py").read_bytes()
    assert otadata(tmp_path) == {
        "boot": "ota_0",
        "running": "ota_0",
        "state": {"ota_0": "valid", "ota_1": "undefined"},
    }


def test_a_new_slot_boots_once_unconfirmed_then_rolls_back(tmp_path: Path, factory: Path) -> None:
    bootloader(tmp_path, factory)
    (tmp_path / ".host" / "ota_1.bin").write_bytes(build.image(factory))
    d = otadata(tmp_path)
    d["boot"], d["state"]["ota_1"] = "ota_1", "new"  # what set_boot leaves
    (tmp_path / ".host" / "otadata.json").write_text(json.dumps(d))

    assert bootloader(tmp_path, factory).name == "ota_1.app"
    assert otadata(tmp_path)["state"]["ota_1"] == "pending_verify"
    # Reset without mark_app_valid_cancel_rollback: back to the valid slot.
    assert bootloader(tmp_path, factory).name == "ota_0.app"
    assert otadata(tmp_path) == {
        "boot": "ota_0",
        "running": "ota_0",
        "state": {"ota_0": "valid", "ota_1": "aborted"},
    }
    assert bootloader(tmp_path, factory).name == "ota_0.app"


def test_an_image_that_does_not_unpack_is_invalid(tmp_path: Path, factory: Path) -> None:
    bootloader(tmp_path, factory)
    (tmp_path / ".host" / "ota_1.bin").write_bytes(b"\xff" * 4096)
    d = otadata(tmp_path)
    d["boot"], d["state"]["ota_1"] = "ota_1", "new"
    (tmp_path / ".host" / "otadata.json").write_text(json.dumps(d))
    assert bootloader(tmp_path, factory).name == "ota_0.app"
    assert otadata(tmp_path)["state"]["ota_1"] == "invalid"


def test_nothing_bootable_halts(tmp_path: Path, factory: Path) -> None:
    bootloader(tmp_path, factory)
    d = otadata(tmp_path)
    d["state"] = {"ota_0": "aborted", "ota_1": "undefined"}
    (tmp_path / ".host" / "otadata.json").write_text(json.dumps(d))
    with pytest.raises(NoBootableSlot):
        bootloader(tmp_path, factory)
