"""`pi install` on this machine into a temporary root: real pip (dry run), real files, idempotent."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from rich.console import Console

from edge_agent import config as agent_config
from provisioning import pi
from provisioning.cli import Ctx, do_pi_install
from provisioning.exceptions import StateError
from provisioning.state import DeviceState

FLEET_KEY = "cd" * 32


def ctx(work: Path) -> Ctx:
    return Ctx(workdir=work, json=True, console=Console(stderr=True), results=[])


def under_root(root: Path, *keys: str) -> dict[str, str]:
    """Environment overrides (the agent's own mechanism) that point the file's absolute Pi paths
    into the temporary root, so the agent reads exactly the files `pi install` wrote there."""
    doc = agent_config.tomllib.loads((root / "etc/mobilytics/agent.toml").read_text())
    env = {"MOBILYTICS_AGENT__FLEET_KEY_FILE": str(root / doc["fleet_key_file"].lstrip("/"))}
    for key in keys:
        env[f"MOBILYTICS_AGENT__MQTT__{key.upper()}"] = str(root / doc["mqtt"][key].lstrip("/"))
    return env


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
    # The file is in the agent's format: `mobilytics-agent run --config` reads it as written.
    cfg = agent_config.load(root / "etc/mobilytics/agent.toml", under_root(root))
    assert cfg.device_id == "pi-0007"
    assert (cfg.mqtt.host, cfg.mqtt.port) == ("broker.local", 8883)
    assert cfg.mqtt.tls_cert == "/etc/mobilytics/identity/device.crt"
    assert cfg.mqtt.tls_key == "/etc/mobilytics/identity/device.key"
    assert cfg.mqtt.tls_ca == "/etc/mobilytics/identity/ca.crt"
    assert cfg.fleet_key.hex() == FLEET_KEY
    assert cfg.sources.monitor is not None
    assert cfg.sources.monitor.interface == "wlan1mon"
    assert cfg.sources.ble is not None
    assert (root / "etc/mobilytics/fleet.key").stat().st_mode & 0o777 == 0o600
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
    assert (
        agent_config.load(root / "etc/mobilytics/agent.toml", under_root(root)).mqtt.host == "fleet.example"
    )
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


def test_pi_install_sources_option_and_bad_source(tmp_path: Path) -> None:
    root, work = tmp_path / "root", tmp_path / "work"
    agent = pi.AgentInstall(
        spec="typer", pip=(sys.executable, "-m", "pip", "install", "--dry-run", "--no-index")
    )
    do_pi_install(
        ctx(work),
        device="pi-0008",
        target=pi.LocalTarget(root),
        agent=agent,
        fleet_key=FLEET_KEY,
        mqtt={"host": "h", "port": 1883, "tls": False},
        start=False,
        sources=["simulate"],
    )
    cfg = agent_config.load(root / "etc/mobilytics/agent.toml", under_root(root))
    assert cfg.sources.simulate is not None
    assert cfg.sources.monitor is None
    assert cfg.mqtt.tls_ca is None
    assert cfg.mqtt.tls_cert is None
    with pytest.raises(StateError, match="expected monitor:IFACE"):
        do_pi_install(
            ctx(work),
            device="pi-0008",
            target=pi.LocalTarget(root),
            agent=agent,
            fleet_key=FLEET_KEY,
            mqtt={"host": "h", "port": 1883},
            start=False,
            sources=["monitor"],
        )
