"""Issue 7's "done when", end to end, from the technician's CLI.

Real pieces only: `mobilytics identity init` makes the fleet CA and the broker's files; Mosquitto runs
from that generated TLS config (client certificates, CRL, ACL); `mobilytics up` (a subprocess: API +
bridge on SQLite, the bridge connecting with the cloud's certificate) loads the identity directory and
reloads Mosquitto with SIGHUP when revocations change. Then, with `mobilytics-provision`:

* a simulated ESP32: `register` with a one-time token, `esp32 install` through real mpremote into the
  MicroPython unix port behind a pseudo-terminal (tests/provisioning/pty_board.py), then the firmware
  bundle that install copied boots from that flash directory (firmware/host/launcher.py) and connects
  over TLS with the DER identity install wrote;
* a Pi: `register`, `pi install` into a temporary root, then `mobilytics-agent run --config` on the
  agent.toml it wrote (the file's absolute Pi paths pointed into the root by the agent's documented
  MOBILYTICS_AGENT__* overrides);
* `check` sees both heartbeat; the API shows them online. Quarantining the Pi through the API revokes
  its certificate; the agent restarted with the same files is refused by Mosquitto.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cloud.broker.ports import free_port
from cloud.cli import app as cloud_cli
from cloud.identity.directory import IdentityDir
from firmware import build
from firmware.host.launcher import TLS_HEAP, Board
from provisioning.cli import app as provision_cli
from tests.provisioning.conftest import mosquitto_executable
from tests.provisioning.mqttc import Client, Refused, TlsFiles
from tests.provisioning.pty_board import PtyBoard
from tests.services import MosquittoProcess, wait_for_port

pytestmark = [pytest.mark.mosquitto, pytest.mark.micropython]

FLEET_KEY = "5e" * 32
ESP, PI = "esp-0042", "pi-0007"
runner = CliRunner()
CLOUD_UP = [sys.executable, "-c", "from cloud.cli import app; app()", "up"]


def provision(work: Path, *args: str) -> dict:
    r = runner.invoke(provision_cli, ["--workdir", str(work), "--json", *args])
    assert r.exit_code == 0, r.stdout + repr(r.exception)
    return json.loads(r.stdout.strip().splitlines()[-1])


def wait_for(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, str, MosquittoProcess, IdentityDir]]:
    ident_dir = tmp_path / "identity"
    r = runner.invoke(cloud_cli, ["identity", "init", str(ident_dir), "--broker-host", "127.0.0.1"])
    assert r.exit_code == 0, r.output
    ident = IdentityDir(ident_dir)
    files = ident.broker
    broker = MosquittoProcess(
        workdir=tmp_path / "mosquitto",
        executable=mosquitto_executable(),
        options={
            "tls": files.tls_listener(port=free_port(), host="127.0.0.1"),
            "password_file": files.password_file,
            "acl_file": files.acl_file,
            "allow_anonymous": False,
        },
    )
    broker.workdir.mkdir()
    broker.start()
    db = f"sqlite:///{tmp_path / 'cloud.sqlite3'}"
    r = runner.invoke(cloud_cli, ["token", "create", "--scope", "write", "--name", "e2e", "--db", db])
    assert r.exit_code == 0, r.output
    write_token = r.stdout.strip().splitlines()[0]
    api_port, tls_port = free_port(), broker.config.tls.port
    env = {
        **os.environ,
        "MOBILYTICS_IDENTITY_DIR": str(ident_dir),
        "MOBILYTICS_BROKER_RELOAD": f"kill -HUP {broker.pid}",
        "MOBILYTICS_SWEEP_INTERVAL_S": "0.2",
    }
    log = (tmp_path / "cloud.log").open("wb")
    cloud = subprocess.Popen(
        [*CLOUD_UP, "--port", str(api_port), "--db", db, "--broker", f"mqtts://127.0.0.1:{tls_port}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port("127.0.0.1", api_port, timeout=30)
        yield f"http://127.0.0.1:{api_port}", write_token, broker, ident
    finally:
        cloud.terminate()
        cloud.wait(timeout=20)
        broker.stop()
        print((tmp_path / "cloud.log").read_text()[-3000:])


def test_esp32_and_pi_provisioned_registered_heartbeating_over_tls_then_quarantine(
    stack, tmp_path: Path, micropython: str
) -> None:
    api, write_token, broker, _ident = stack
    work = tmp_path / "work"
    ops = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {write_token}"}, timeout=30)

    def token(device: str, hardware: str) -> str:
        resp = ops.post("/enrollments", json={"tenant": "acme", "hardware": hardware, "device_id": device})
        assert resp.status_code == 201, resp.text
        return resp.json()["token"]

    # -- ESP32: register, install through mpremote, boot the installed firmware -------------------------
    esp_token = token(ESP, "esp32")
    provision(work, "register", "-d", ESP, "--api", api, "--token", esp_token, "--hardware", "esp32")
    reused = runner.invoke(
        provision_cli,
        [
            "--workdir",
            str(tmp_path / "other"),
            "--json",
            "register",
            "-d",
            ESP,
            "--api",
            api,
            "--token",
            esp_token,
        ],
    )
    assert reused.exit_code == 1  # the one-time token is spent
    bundle = tmp_path / "bundle"
    build.build(bundle)
    flash = tmp_path / "flash"
    pty_board = PtyBoard(micropython, flash).start()
    try:
        installed = provision(
            work,
            "esp32", "install", "--port", pty_board.port, "-d", ESP, "--bundle", str(bundle),
            "--fleet-key", FLEET_KEY, "--wifi-ssid", "billboard", "--wifi-psk", "secret", "--no-soft-reset",
        )  # fmt: skip
    finally:
        pty_board.stop()
    assert installed["with_certificate"] is True
    doc = json.loads((flash / "device.json").read_text())
    assert doc["mqtt"]["tls"] is True
    assert doc["mqtt"]["port"] == broker.config.tls.port
    log = tmp_path / "firmware.log"
    esp = Board(flash=flash, code=flash, micropython=micropython, log=log, heap=TLS_HEAP)
    esp.start()

    # -- Pi: register, install into a root, run the agent on the agent.toml it wrote ---------------------
    provision(work, "register", "-d", PI, "--api", api, "--token", token(PI, "rpi"), "--hardware", "rpi")
    root = tmp_path / "root"
    provision(
        work,
        "pi", "install", "-d", PI, "--fleet-key", FLEET_KEY, "--root", str(root), "--source", "simulate",
        "--agent-spec", "typer", "--no-start",
    )  # fmt: skip
    config = root / "etc/mobilytics/agent.toml"
    written = config.read_text()
    names = ["/etc/mobilytics/fleet.key"] + [
        f"/etc/mobilytics/identity/{n}" for n in ("ca.crt", "device.crt", "device.key")
    ]
    inside = {p: str(root / p.lstrip("/")) for p in names}
    agent_env = {
        **os.environ,
        "MOBILYTICS_AGENT__FLEET_KEY_FILE": inside["/etc/mobilytics/fleet.key"],
        "MOBILYTICS_AGENT__DATA_DIR": str(tmp_path / "agent-data"),
        "MOBILYTICS_AGENT__MQTT__TLS_CA": inside["/etc/mobilytics/identity/ca.crt"],
        "MOBILYTICS_AGENT__MQTT__TLS_CERT": inside["/etc/mobilytics/identity/device.crt"],
        "MOBILYTICS_AGENT__MQTT__TLS_KEY": inside["/etc/mobilytics/identity/device.key"],
    }
    assert "tls_cert = " in written
    agent_log = (tmp_path / "agent.log").open("wb")

    # The systemd unit's own command line, with this interpreter and the config inside the root.
    unit = (root / "etc/systemd/system/mobilytics-agent.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    argv = [sys.executable, *exec_start.split()[1:-1], str(config)]
    assert argv[1:4] == ["-m", "edge_agent", "run"]

    def start_agent() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            env=agent_env,
            stdout=agent_log,
            stderr=subprocess.STDOUT,
        )

    agent = start_agent()
    try:
        # -- check: both heartbeat over TLS; the cloud shows them online ----------------------------------
        for device in (ESP, PI):
            checked = provision(work, "check", "-d", device, "--api", api, "--timeout", "90")
            assert checked["last_heartbeat_at"], checked

        def online(device: str) -> dict | None:
            rec = httpx.get(f"{api}/devices/{device}").json()
            return rec if rec["status"] == "online" and rec["last_heartbeat_at"] else None

        for device in (ESP, PI):
            wait_for(lambda d=device: online(d), 30, f"{device} online")
        log = broker.log_path.read_text()
        for device in (ESP, PI):  # TLS, the certificate's CN as username and client id
            assert f"as {device} (p2, c0, k" in log
            assert f"u'{device}')" in log

        # -- quarantine the Pi: its certificate is revoked, Mosquitto reloads the CRL, reconnects fail ----
        resp = ops.patch(f"/devices/{PI}", json={"state": "quarantined"})
        assert resp.status_code == 200, resp.text
        agent.terminate()
        agent.wait(timeout=20)
        pi_files = TlsFiles(
            ca=Path(inside["/etc/mobilytics/identity/ca.crt"]),
            cert=Path(inside["/etc/mobilytics/identity/device.crt"]),
            key=Path(inside["/etc/mobilytics/identity/device.key"]),
        )

        def refused() -> bool:
            try:
                Client(PI, tls=pi_files).connect("127.0.0.1", broker.config.tls.port, timeout=5).close()
            except Refused:
                return True
            return False

        wait_for(refused, 15, "the quarantined Pi's certificate to be refused")
        assert "certificate verify failed" in broker.log_path.read_text()  # the CRL, after SIGHUP
        before = httpx.get(f"{api}/devices/{PI}").json()["last_heartbeat_at"]
        agent = start_agent()
        time.sleep(5)
        assert httpx.get(f"{api}/devices/{PI}").json()["last_heartbeat_at"] == before
        # The ESP32, not quarantined, still connects and heartbeats.
        assert online(ESP)
    finally:
        agent.terminate()
        agent.wait(timeout=20)
        esp.stop()
        print((tmp_path / "agent.log").read_text()[-2000:])
        print((tmp_path / "firmware.log").read_text()[-2000:])
