"""`mobilytics-ota` end to end: keys, root, threshold signing, rotation, verification verdicts."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ota.cli import app
from ota.device.metadata import key_id

runner = CliRunner()


def ok(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def refused(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 1, result.output
    return result.output


def keygen(tmp: Path, name: str) -> tuple[Path, str]:
    out = ok("keygen", tmp / f"{name}.key")
    public = out.split("public ")[1].strip()
    assert (tmp / f"{name}.key.pub").read_text().strip() == public
    return tmp / f"{name}.key", public


@pytest.fixture
def world(tmp_path: Path) -> dict:
    keys = {n: keygen(tmp_path, n) for n in ("root1", "root2", "rel1", "rel2")}
    root = tmp_path / "root.json"
    ok(
        "root",
        "init",
        "--root-key",
        keys["root1"][1],
        "--root-key",
        keys["root2"][1],
        "--root-threshold",
        2,
        "--release-key",
        keys["rel1"][1],
        "--release-key",
        keys["rel2"][1],
        "--release-threshold",
        2,
        "--key",
        keys["root1"][0],
        "--out",
        root,
    )
    ok("sign", "--document", root, "--key", keys["root2"][0])
    artifact = tmp_path / "firmware.bin"
    artifact.write_bytes(b"\x7fELF" + bytes(5000))
    return {"tmp": tmp_path, "keys": keys, "root": root, "artifact": artifact}


def test_keygen_writes_an_owner_only_key_and_never_overwrites(tmp_path: Path) -> None:
    key, _ = keygen(tmp_path, "k")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "File exists" in refused("keygen", key)


def test_a_group_readable_key_is_refused(world: dict) -> None:
    key = world["keys"]["rel1"][0]
    key.chmod(0o640)
    out = refused(
        "sign", world["artifact"], "--key", key, "--version", 1, "--hardware", "esp32", "--model", "m"
    )
    assert "chmod 600" in out


def test_threshold_signing_round_trip(world: dict) -> None:
    rel1, rel2 = world["keys"]["rel1"][0], world["keys"]["rel2"][0]
    doc = world["tmp"] / "release.json"
    ok(
        "sign",
        world["artifact"],
        "--key",
        rel1,
        "--version",
        7,
        "--hardware",
        "esp32",
        "--model",
        "wroom",
        "--expires",
        "30d",
        "--out",
        doc,
    )
    assert "ThresholdNotMet" in refused("verify", doc, "--root", world["root"])
    assert "2 signature(s)" in ok("sign", "--document", doc, "--key", rel2)

    out = ok(
        "verify",
        doc,
        "--root",
        world["root"],
        "--artifact",
        world["artifact"],
        "--hardware",
        "esp32",
        "--model",
        "wroom",
        "--installed-version",
        6,
    )
    assert "OK release v7 for esp32/wroom" in out
    assert "artifact matches" in out
    assert "Rollback" in refused("verify", doc, "--root", world["root"], "--installed-version", 7)
    ok("verify", doc, "--root", world["root"], "--installed-version", 7, "--allow-reinstall")
    assert "WrongTarget" in refused(
        "verify", doc, "--root", world["root"], "--hardware", "rpi", "--model", "wroom"
    )
    assert "Expired" in refused("verify", doc, "--root", world["root"], "--at", "31d")
    world["artifact"].write_bytes(world["artifact"].read_bytes() + b"!")
    assert "LengthMismatch" in refused(
        "verify", doc, "--root", world["root"], "--artifact", world["artifact"]
    )


def test_root_rotation_needs_old_and_new_thresholds(world: dict) -> None:
    tmp, keys = world["tmp"], world["keys"]
    new_key, new_public = keygen(tmp, "root3")
    v2 = tmp / "root-v2.json"
    ok(
        "root",
        "rotate",
        world["root"],
        "--out",
        v2,
        "--remove-root-key",
        _keyid(keys["root1"][1]),
        "--add-root-key",
        new_public,
        "--key",
        keys["root2"][0],
        "--key",
        new_key,
    )
    # Signed by the new root's threshold (root2, root3) but only one old key (root2): refused.
    assert "ThresholdNotMet" in refused("verify", v2, "--root", world["root"])
    ok("sign", "--document", v2, "--key", keys["root1"][0])
    assert "OK root v2" in ok("verify", v2, "--root", world["root"])


def test_usage_errors_are_clear(world: dict) -> None:
    result = runner.invoke(app, ["sign", str(world["artifact"]), "--key", str(world["keys"]["rel1"][0])])
    assert result.exit_code == 2
    assert "needs ARTIFACT, --version, --hardware, --model" in result.output
    result = runner.invoke(
        app,
        [
            "sign",
            str(world["artifact"]),
            "--key",
            str(world["keys"]["rel1"][0]),
            "--version",
            "1",
            "--hardware",
            "esp32",
            "--model",
            "m",
            "--expires",
            "2001-01-01",
        ],
    )
    assert "not in the future" in result.output
    assert "MalformedDocument" in refused("verify", world["artifact"], "--root", world["root"])
    assert "hardware must be one of" in refused(
        "sign",
        world["artifact"],
        "--key",
        world["keys"]["rel1"][0],
        "--version",
        1,
        "--hardware",
        "arduino",
        "--model",
        "m",
    )


def test_help_names_every_command() -> None:
    out = ok("--help")
    for command in ("keygen", "sign", "verify", "root"):
        assert command in out
    assert "rotate" in ok("root", "--help")


def _keyid(public_hex: str) -> str:
    return key_id(bytes.fromhex(public_hex))
