"""The firmware's MQTT client (firmware/src/mqtt.py, under the real MicroPython unix port) connects to
Mosquitto's generated TLS listener with the device certificate named in device.json, and only with it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cloud.identity.names import CLOUD
from firmware.host.launcher import TLS_HEAP
from firmware.host.paths import micropython_path
from protocol import topics
from tests.provisioning.fleet import Fleet
from tests.provisioning.mqttc import Client

pytestmark = pytest.mark.mosquitto
DER = serialization.Encoding.DER

SCRIPT = """
import asyncio, json, sys
import identity, mqtt

ident = identity.Identity(json.load(open("device.json")))
async def main():
    c = mqtt.MQTTClient(ident.device_id, ident.host, ident.port, ident.user, ident.password, 30,
                        ssl=ident.tls or None)
    try:
        await c.connect()
    except mqtt.MQTTError as e:
        print("REFUSED", e)
        return
    await c.publish(sys.argv[1], b"over tls", False, 1)
    print("PUBLISHED")
    await c.disconnect()
asyncio.run(main())
"""


def run_device(micropython: str, flash: Path, doc: dict, topic: str) -> str:
    (flash / "device.json").write_text(json.dumps(doc))
    (flash / "main_tls.py").write_text(SCRIPT)
    r = subprocess.run(
        [micropython, "-X", f"heapsize={TLS_HEAP}", "main_tls.py", topic],
        cwd=flash,
        env={"MICROPYPATH": micropython_path()},
        capture_output=True,
        timeout=60,
    )
    return r.stdout.decode() + r.stderr.decode()


def test_firmware_client_presents_its_certificate(
    fleet: Fleet, secure_mosquitto, micropython: str, tmp_path: Path
) -> None:
    tls = fleet.device("esp-0042")
    port = secure_mosquitto().config.tls.port
    flash = tmp_path / "flash"
    flash.mkdir()
    # In DER, as `esp32 install` writes them (provisioning/local_identity.py).
    (flash / "ca.der").write_bytes(x509.load_pem_x509_certificate(tls.ca.read_bytes()).public_bytes(DER))
    (flash / "device.der").write_bytes(
        x509.load_pem_x509_certificate(tls.cert.read_bytes()).public_bytes(DER)
    )
    key = serialization.load_pem_private_key(tls.key.read_bytes(), password=None)
    pkcs8 = serialization.PrivateFormat.PKCS8
    (flash / "key.der").write_bytes(key.private_bytes(DER, pkcs8, serialization.NoEncryption()))
    mqtt = {"host": "127.0.0.1", "port": port, "tls": True, "ca": "ca.der", "cert": "device.der"}
    doc = {"device_id": "esp-0042", "fleet_key": "ab" * 32, "mqtt": {**mqtt, "key": "key.der"}}
    topic = topics.topic("esp-0042", topics.TELEMETRY)

    with Client(CLOUD, tls=fleet.service()).connect("127.0.0.1", port) as ops:
        assert ops.subscribe(f"{topics.PREFIX}/+/telemetry") == 1
        out = run_device(micropython, flash, doc, topic)
        assert "PUBLISHED" in out, out
        assert ops.expect(5) == (topic, b"over tls")

    # The same device.json without the certificate: the broker requires one.
    out = run_device(micropython, flash, {**doc, "mqtt": {**mqtt, "cert": None}}, topic)
    assert "REFUSED" in out, out
