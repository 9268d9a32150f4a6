"""`mobilytics-ota publish` against a real API server: signed data only, the cloud's verdict shown."""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

from ota.cli import app as ota_cli
from tests.rollouts.conftest import Fleet, rotate


def test_publish_uploads_and_reports_the_clouds_refusals(
    server: str, tokens: dict, fleet: Fleet, tmp_path: Path
) -> None:
    token = tokens["write"]["Authorization"].split()[1]
    artifact = tmp_path / "fw.bin"
    artifact.write_bytes(os.urandom(70_000))
    doc = tmp_path / "fw.bin.release.json"
    doc.write_bytes(fleet.release(artifact.read_bytes(), version=5))
    runner = CliRunner()
    r = runner.invoke(ota_cli, ["publish", str(artifact), "--api", server, "--token", token])
    assert r.exit_code == 0, r.output
    assert "OK release 1: v5 for esp32/esp32-wroom, 70000 bytes" in r.output
    # A second time: the cloud says the version exists.
    r = runner.invoke(ota_cli, ["publish", str(artifact), "--api", server, "--token", token])
    assert r.exit_code == 1
    assert "HTTP 409" in r.output
    # Signed by one release key where the root wants two: refused by the cloud with the OTA error.
    doc.write_bytes(fleet.release(artifact.read_bytes(), version=6, keys=fleet.release_keys[:1]))
    r = runner.invoke(ota_cli, ["publish", str(artifact), "--api", server, "--token", token])
    assert r.exit_code == 1
    assert "(ThresholdNotMet), HTTP 422" in r.output
    # An artifact that is not the signed one never leaves the machine.
    artifact.write_bytes(b"other bytes")
    r = runner.invoke(ota_cli, ["publish", str(artifact), "--api", server, "--token", token])
    assert r.exit_code == 1
    assert "LengthMismatch" in r.output


def test_root_publish_uploads_a_rotation_and_reports_a_root_that_does_not_chain(
    server: str, tokens: dict, fleet: Fleet, tmp_path: Path
) -> None:
    token = tokens["write"]["Authorization"].split()[1]
    runner = CliRunner()
    doc = tmp_path / "root.v2.json"
    doc.write_bytes(rotate(fleet.root_keys, forged=True).document)
    r = runner.invoke(ota_cli, ["root", "publish", str(doc), "--api", server, "--token", token])
    assert r.exit_code == 1
    assert "(ThresholdNotMet), HTTP 422" in r.output
    assert "root v1" in r.output
    doc.write_bytes(rotate(fleet.root_keys).document)
    r = runner.invoke(ota_cli, ["root", "publish", str(doc), "--api", server, "--token", token])
    assert r.exit_code == 0, r.output
    assert "OK root v2 published: http://127.0.0.1:8000/releases/roots/2.json" in r.output
    r = runner.invoke(ota_cli, ["root", "publish", str(doc), "--api", server, "--token", token])
    assert r.exit_code == 1
    assert "(Rollback), HTTP 422" in r.output
    # A release document is not a root: refused before anything is sent.
    doc.write_bytes(fleet.release(b"x"))
    r = runner.invoke(ota_cli, ["root", "publish", str(doc), "--api", server, "--token", token])
    assert r.exit_code == 1
    assert "MalformedDocument" in r.output
