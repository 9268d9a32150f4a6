"""`mobilytics-provision esp32 setup` and `pi setup` on real hardware (skipped without the variables).

ESP32: HIL_ESP32_PORT, HIL_ESP32_IMAGE (MicroPython .bin), HIL_WIFI_SSID/PSK, HIL_FLEET_KEY (64 hex),
MOBILYTICS_API (a running control plane with a fleet CA and a broker the board can reach over TLS),
MOBILYTICS_OPS_TOKEN (write scope, to mint the enrollment token). Pi: HIL_PI_HOST (user@host, key-based
SSH, passwordless sudo) plus the same API variables. See hil/README.md, "Provisioning".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

API = os.environ.get("MOBILYTICS_API")
OPS = os.environ.get("MOBILYTICS_OPS_TOKEN")


def mint(hardware: str, device: str) -> str:
    r = httpx.post(
        f"{API}/enrollments",
        json={
            "tenant": os.environ.get("HIL_TENANT", "hil"),
            "hardware": hardware,
            "device_id": device,
            "ttl_s": 3600,
        },
        headers={"Authorization": f"Bearer {OPS}"},
    )
    r.raise_for_status()
    return r.json()["token"]


def provision(*args: str) -> dict:
    r = subprocess.run(
        [sys.executable, "-m", "provisioning", "--json", *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


@pytest.mark.skipif(
    not (os.environ.get("HIL_ESP32_PORT") and API and OPS),
    reason="set HIL_ESP32_PORT, MOBILYTICS_API and MOBILYTICS_OPS_TOKEN to run on a real ESP32",
)
def test_esp32_setup_from_blank() -> None:
    from firmware import build

    device = os.environ.get("HIL_ESP32_DEVICE", "hil-esp32-01")
    with tempfile.TemporaryDirectory() as d:
        bundle = Path(d) / "bundle"
        build.build(bundle)
        out = provision(
            "--workdir",
            f"{d}/work",
            "esp32",
            "setup",
            "--port",
            os.environ["HIL_ESP32_PORT"],
            "-d",
            device,
            "--api",
            API,
            "--token",
            mint("esp32", device),
            "--image",
            os.environ["HIL_ESP32_IMAGE"],
            "--bundle",
            str(bundle),
            "--fleet-key",
            os.environ["HIL_FLEET_KEY"],
            "--wifi-ssid",
            os.environ["HIL_WIFI_SSID"],
            "--wifi-psk",
            os.environ["HIL_WIFI_PSK"],
            "--timeout",
            "180",
        )
        assert out["steps"][-1]["status"] == "online"
        # Safe to repeat: nothing is flashed or copied again.
        again = provision(
            "--workdir",
            f"{d}/work",
            "esp32",
            "setup",
            "--port",
            os.environ["HIL_ESP32_PORT"],
            "-d",
            device,
            "--api",
            API,
            "--token",
            "enr_used",
            "--image",
            os.environ["HIL_ESP32_IMAGE"],
            "--bundle",
            str(bundle),
            "--fleet-key",
            os.environ["HIL_FLEET_KEY"],
        )
        assert again["steps"][0]["skipped"] is True


@pytest.mark.skipif(
    not (os.environ.get("HIL_PI_HOST") and API and OPS),
    reason="set HIL_PI_HOST, MOBILYTICS_API and MOBILYTICS_OPS_TOKEN to run on a real Raspberry Pi",
)
def test_pi_setup_over_ssh() -> None:
    device = os.environ.get("HIL_PI_DEVICE", "hil-pi-01")
    with tempfile.TemporaryDirectory() as d:
        out = provision(
            "--workdir",
            f"{d}/work",
            "pi",
            "setup",
            "-d",
            device,
            "--host",
            os.environ["HIL_PI_HOST"],
            "--api",
            API,
            "--token",
            mint("rpi", device),
            "--fleet-key",
            os.environ["HIL_FLEET_KEY"],
            "--agent-spec",
            os.environ.get("HIL_AGENT_SPEC", "mobilytics[agent]"),
            "--timeout",
            "180",
        )
        assert out["steps"][-1]["status"] == "online"
