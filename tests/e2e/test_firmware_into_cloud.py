"""Issue 5, done when: the firmware under the real ``micropython`` (firmware/host/launcher.py, the heap
the firmware tests use), against real Mosquitto and against the embedded amqtt broker, into the real
cloud process on PostgreSQL.

The device is registered and configured the way ops do it, through the REST API with a write token;
birth, heartbeats and hashed BLE telemetry land in the cloud's tables; a config change round-trips
through the config shadow (and an invalid one is a 422); a broker restart, a commanded reboot
(``machine.reset()``, rebooted by the launcher) and a power cut lose no batch: every batch the firmware
says it stored is in the cloud's tables exactly once, and no gap stays open.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from cloud.ingest.models import observation
from firmware import build
from firmware.host.launcher import Board
from protocol import codec, topics
from tests.e2e.conftest import start_cloud
from tests.e2e.stack import CloudProcess, CloudTables, wait_until
from tests.firmware.boards import FAST
from tests.services import AmqttThread, MosquittoProcess

pytestmark = [pytest.mark.micropython, pytest.mark.postgres]


@pytest.fixture
def cloud(broker: MosquittoProcess | AmqttThread, pg_db: str, tmp_path: Path) -> Iterator[CloudProcess]:
    c = start_cloud(broker.url, pg_db, tmp_path)
    yield c
    c.stop()


def produced_batches(log: Path) -> dict[tuple[str, int], int]:
    """(boot, batch) -> observations of every batch the firmware says it closed and stored."""
    produced, boot = {}, None
    for line in log.read_text(errors="replace").splitlines():
        words = line.split()
        if words[:2] == ["mob:", "boot"]:
            boot = words[2]
        elif words[:2] == ["mob:", "batch"] and words[3:4] == ["obs"]:
            produced[(boot, int(words[2]))] = int(words[4])
    return produced


def boot_lines(board: Board) -> list[list[str]]:
    """The words of each boot's console line: mob: boot <id> fw <v> reset <cause> outbox <depth>."""
    lines = board.log.read_text(errors="replace").splitlines()  # type: ignore[union-attr]
    return [line.split() for line in lines if line.startswith("mob: boot ")]


def send_command(broker: MosquittoProcess | AmqttThread, device: str, name: str) -> None:
    """A command on the device's cmd channel, as the cloud sends one (it has no command route yet)."""
    msg = codec.make("cmd", device, "c0ffee00", 1, int(time.time() * 1000), {"id": f"{name}-1", "name": name})
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ops-{uuid.uuid4().hex[:6]}")
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        c.publish(topics.topic(device, topics.CMD), codec.encode(msg), qos=1).wait_for_publish(5)
    finally:
        c.loop_stop()
        c.disconnect()


def restart_broker(broker: MosquittoProcess | AmqttThread, board: Board, cloud: CloudProcess) -> None:
    if isinstance(broker, MosquittoProcess):  # persistent sessions: the cloud's queue survives
        broker.stop()
        time.sleep(3)
        broker.start()
        return
    # amqtt keeps no session across a restart: what the device sent before the cloud's bridge is
    # back would reach nobody. So the device's WiFi is down meanwhile (it stores, it does not send).
    board.wifi(False)
    time.sleep(1)
    connections = cloud.bridge_connections()
    broker.stop()
    time.sleep(1)
    broker.start()
    wait_until(lambda: cloud.bridge_connections() > connections, 30, "the cloud's bridge back on amqtt")
    time.sleep(1)
    board.wifi(True)


def test_firmware_into_the_cloud_on_postgresql(
    broker: MosquittoProcess | AmqttThread, cloud: CloudProcess, board: Board, tables: CloudTables
) -> None:
    dev: str = board.device  # type: ignore[attr-defined]
    api = httpx.Client(base_url=cloud.api, headers={"Authorization": f"Bearer {cloud.token('write')}"})

    # Ops register the device and give it its first config before it ever boots (retained desired).
    r = api.post("/devices", json={"id": dev, "hardware": "esp32", "serial": "SN-E2E"})
    assert r.status_code == 201, r.text
    r = api.put(f"/devices/{dev}/config/desired", json={"config": FAST})
    assert (r.status_code, r.json()["desired_version"]) == (200, 1), r.text
    board.start()

    # Birth, heartbeats, telemetry: in the cloud's tables and through its API.
    def reporting() -> dict | None:
        d = api.get(f"/devices/{dev}").json()
        ok = d["status"] == "online" and d["heartbeats"] >= 1 and d["telemetry_batches"] >= 3
        return d if ok and d["observations"] > 0 else None

    d = wait_until(reporting, 40, "the device online with heartbeats and telemetry")
    assert (d["hardware"], d["firmware_version"], d["state"]) == ("esp32", build.read_version(), "active")
    assert {"ble", "gps"} <= set(d["capabilities"])
    assert d["health"]["dropped"] == 0
    assert d["health"]["free_mem"] > 0
    shadow = wait_until(
        lambda: (s := api.get(f"/devices/{dev}/config").json())["reported_version"] == 1 and s,
        20,
        "v1 reported",
    )
    assert shadow["in_sync"]
    assert shadow["reported"]["scan_ms"] == 500

    # A config change round-trips through the shadow; an invalid one never leaves the API.
    r = api.put(f"/devices/{dev}/config/desired", json={"config": {**FAST, "rssi_floor": -70}})
    assert (r.status_code, r.json()["desired_version"], r.json()["in_sync"]) == (200, 2, False)
    shadow = wait_until(
        lambda: (s := api.get(f"/devices/{dev}/config").json())["reported_version"] == 2 and s,
        20,
        "v2 reported",
    )
    assert (shadow["in_sync"], shadow["delta"]) == (True, {})
    assert shadow["reported"]["rssi_floor"] == -70
    for bad, key in (({**FAST, "rssi_floor": 5}, "rssi_floor"), ({"scan_ms": 100}, "scan_ms")):
        r = api.put(f"/devices/{dev}/config/desired", json={"config": bad})
        assert r.status_code == 422, r.text
        assert key in json.dumps(r.json())
    assert api.get(f"/devices/{dev}/config").json()["desired_version"] == 2  # nothing stored
    applied = max(tables.batch_keys(dev), key=lambda k: k[1])  # (boot, batch) when v2 was reported
    n = len(tables.batch_keys(dev))
    wait_until(lambda: len(tables.batch_keys(dev)) >= n + 3, 20, "batches under v2")
    with tables.engine.connect() as conn:  # the floor is in force on the batches closed after it
        faint = conn.execute(
            select(func.count())
            .select_from(observation)
            .where(
                observation.c.device_id == dev,
                observation.c.boot == applied[0],
                observation.c.batch > applied[1] + 1,
                observation.c.rssi < -70,
            )
        ).scalar_one()
    assert faint == 0

    # The broker restarts; then a commanded reboot (machine.reset(), the launcher boots it again)
    # and a power cut. Batches pile up in flash meanwhile and are sent later.
    restart_broker(broker, board, cloud)
    n = len(tables.batch_keys(dev))
    wait_until(lambda: len(tables.batch_keys(dev)) >= n + 4, 40, "batches after the broker restart")

    def boots() -> set[str]:
        return {boot for boot, _ in tables.batch_keys(dev)}

    send_command(broker, dev, "reboot")
    wait_until(lambda: len(boots()) >= 2, 40, "the second boot's batches")
    # The power goes while the AP is gone: the batches waiting in flash must survive the cut.
    board.wifi(False)
    time.sleep(2.5)
    board.power_cut()
    wait_until(lambda: len(boot_lines(board)) >= 3, 20, "the third boot")
    time.sleep(1)
    board.wifi(True)
    wait_until(lambda: len(boots()) >= 3, 40, "the third boot's batches")
    time.sleep(2)
    produced = produced_batches(board.log)  # type: ignore[arg-type]
    wait_until(lambda: set(produced) <= tables.batch_keys(dev), 40, f"all {len(produced)} batches")
    d = api.get(f"/devices/{dev}").json()
    causes = [words[6] for words in boot_lines(board)]
    assert causes[:3] == ["power_on", "soft", "power_on"], causes
    assert int(boot_lines(board)[2][8]) >= 1, "batches were waiting in flash over the power cut"

    stored = tables.batches(dev)
    keys = [(b, n) for b, n, _ in stored]
    assert len(keys) == len(set(keys))
    # Everything produced is there once; anything else is a batch closed after the snapshot above.
    assert set(produced) <= set(keys)
    latest = produced_batches(board.log)  # type: ignore[arg-type]
    assert set(keys) <= set(latest)
    assert tables.observations_per_batch(dev) == {k: latest[k] for k in keys}
    for boot in {b for b, _ in keys}:
        numbers = sorted(n for b, n in keys if b == boot)
        assert numbers == list(range(len(numbers))), (boot, numbers)
    assert tables.open_gaps(dev) == []
    assert d["health"]["dropped"] == 0
    assert d["hardware"] == "esp32"
    print(f"{len(keys)} batches over {len({b for b, _ in keys})} boots; duplicates {tables.duplicates(dev)}")
