"""`pi install` on this machine into a temporary root: real pip (dry run), real files, idempotent."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

from provisioning import pi
from provisioning.cli import Ctx, do_pi_install
from provisioning.state import DeviceState

FLEET_KEY = "cd" * 32


def ctx(work: Path) -> Ctx:
    return Ctx(workdir=work, json=True, console=Console(stderr=True), results=[])


def test_pi_install_writes_identity_config_and_unit_and_repeats_safely(tmp_path: Path) -> None:
    root, work = tmp_path / "root", tmp_path / "work"
    target = pi.LocalTarget(root)
    # Real pip, resolving an installed package offline: proves the argv, not a download.
    agent = pi.AgentInstall(
        spec="typer", pip=(sys.executable, "-m", "pip", "install", "--dry-run", "--no-index")
    )
    mqtt = {"host": "broker.local", "port": 8883}

    first = do_pi_install(
        ctx(work), device="pi-0007", target=target, agent=agent, fleet_key=FLEET_KEY, mqtt=mqtt, start=True
    )
    assert first["started"] is False  # not registered yet: no certificate, nothing to start
    key = root / "etc/mobilytics/identity/device.key"
    assert key.read_bytes() == (work / "pi-0007" / "device.key").read_bytes()
    assert key.stat().st_mode & 0o777 == 0o600
    toml = (root / "etc/mobilytics/agent.toml").read_text()
    assert 'id = "pi-0007"' in toml
    assert 'host = "broker.local"' in toml
    assert f'fleet_key = "{FLEET_KEY}"' in toml
    unit = (root / "etc/systemd/system/mobilytics-agent.service").read_text()
    assert "--config /etc/mobilytics/agent.toml" in unit
    assert [a for a in target.ran if a[0] != "systemctl"] == [agent.pip_argv()]

    # Registered now (what `register` leaves): the certificate is written and the unit started.
    state = DeviceState.open(work, "pi-0007", "rpi")
    (state.directory / "device.crt").write_text("CERT")
    (state.directory / "ca.crt").write_text("CA")
    state.data["registration"] = {"broker": {"host": "fleet.example", "port": 8883, "tls": True}}
    state.save()
    target.ran.clear()
    second = do_pi_install(
        ctx(work), device="pi-0007", target=target, agent=agent, fleet_key=FLEET_KEY, mqtt=mqtt, start=True
    )
    assert second["started"] is True
    assert sorted(second["changed"]) == [
        "/etc/mobilytics/agent.toml",
        "/etc/mobilytics/identity/ca.crt",
        "/etc/mobilytics/identity/device.crt",
    ]
    assert 'host = "fleet.example"' in (root / "etc/mobilytics/agent.toml").read_text()
    assert target.ran == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", pi.UNIT_NAME],
        ["systemctl", "restart", pi.UNIT_NAME],
    ]  # pip already done: not run again

    target.ran.clear()
    third = do_pi_install(
        ctx(work), device="pi-0007", target=target, agent=agent, fleet_key=FLEET_KEY, mqtt=mqtt, start=True
    )
    assert third["changed"] == []
    assert ["systemctl", "start", pi.UNIT_NAME] in target.ran


def test_ssh_target_builds_its_commands() -> None:
    t = pi.SshTarget("pi@10.0.0.7")
    assert t._remote("sudo true")[-2:] == ["pi@10.0.0.7", "sudo true"]
    assert "BatchMode=yes" in t.ssh
