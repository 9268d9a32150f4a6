"""The host scenario on a real ESP32 over a serial port (skipped without HIL_ESP32_PORT)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import tempfile
from pathlib import Path

import pytest

from firmware import build
from protocol import topics
from tests.firmware.observer import observing

PORT = os.environ.get("HIL_ESP32_PORT")
pytestmark = pytest.mark.skipif(not PORT, reason="set HIL_ESP32_PORT to run on a real ESP32")


def mpremote(*args: str) -> None:
    subprocess.run(["mpremote", "connect", str(PORT), *args], check=True, timeout=120)


def deploy(device: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        bundle = Path(d) / "bundle"
        build.build(bundle)
        (bundle / "device.json").write_text(
            json.dumps(
                {
                    "device_id": device,
                    "fleet_key": secrets.token_hex(32),
                    "wifi": {"ssid": os.environ["HIL_WIFI_SSID"], "psk": os.environ["HIL_WIFI_PSK"]},
                    "mqtt": {
                        "host": os.environ["HIL_MQTT_HOST"],
                        "port": int(os.environ.get("HIL_MQTT_PORT", "1883")),
                    },
                }
            )
        )
        mpremote("fs", "cp", "-r", f"{bundle}/.", ":")
        mpremote("reset")


async def test_esp32_birth_telemetry_config_and_reboot() -> None:
    device = f"esp-hil-{secrets.token_hex(3)}"
    host, port = os.environ["HIL_MQTT_HOST"], int(os.environ.get("HIL_MQTT_PORT", "1883"))
    async with observing(host, port, device) as obs:
        await obs.publish(
            topics.CONFIG_DESIRED, {"version": 1, "config": {"batch_s": 5, "heartbeat_s": 10}}, retain=True
        )
        deploy(device)
        await obs.wait_for(lambda: obs.of(topics.HELLO), timeout=60, why="hello")
        assert obs.of(topics.HELLO)[0].body["hw"] == "esp32"
        await obs.wait_for(lambda: obs.of(topics.HEARTBEAT), timeout=60, why="heartbeat")
        await obs.wait_for(
            lambda: [m for m in obs.of(topics.CONFIG_REPORTED) if m.body["version"] == 1], why="config v1"
        )
        await obs.wait_for(lambda: obs.of(topics.TELEMETRY), timeout=120, why="telemetry")
        await obs.publish(topics.CMD, {"id": "hil-reboot", "name": "reboot"})
        await obs.wait_for(lambda: len({h.boot for h in obs.of(topics.HELLO)}) >= 2, timeout=90, why="reboot")
        for boot in {h.boot for h in obs.of(topics.HELLO)}:
            numbers = sorted({b for (bt, b) in obs.telemetry_batches() if bt == boot})
            assert numbers == list(range(len(numbers)))
