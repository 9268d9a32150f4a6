"""A cloud process killed mid-stream (SIGKILL) and started again loses no acknowledged batch.

The bridge acknowledges a flush to the broker only after COMMIT, on a persistent session: what the
killed process had received but not committed is redelivered to the new one, and deduplicated.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from cloud.broker.ports import free_port
from cloud.core.db import make_engine
from cloud.ingest.models import TelemetryGap, TelemetryStream, observation
from tests.cloud.devices import Device
from tests.services import MosquittoProcess

REPO = Path(__file__).resolve().parents[2]
BATCHES, DEVICES = 400, 4
OBS = [[k, "w", f"{k:016x}", -50, 0, None, None] for k in range(20)]


def _start_cloud(port: int, broker: str, db: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MOBILYTICS_CLIENT_ID": "cloud-restart-test"}
    out = log.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloud", "up", "--port", str(port), "--broker", broker, "--db", db],
        cwd=REPO,
        env=env,
        stdout=out,
        stderr=out,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"cloud did not start:\n{log.read_text()}")


def _devices_seen(port: int) -> set[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/devices?limit=500", timeout=5) as r:
        return {d["id"] for d in json.load(r)["items"]}


def test_sigkill_of_the_cloud_mid_stream_loses_no_acknowledged_batch(
    mosquitto_broker: MosquittoProcess, pg_url: str, tmp_path: Path
) -> None:
    api = free_port()
    log = tmp_path / "cloud.log"
    cloud = _start_cloud(api, mosquitto_broker.url, pg_url, log)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="restart-publisher", clean_session=False)
    pub.max_inflight_messages_set(50)
    pub.connect(mosquitto_broker.host, mosquitto_broker.port)
    pub.loop_start()
    try:
        probe = Device("restart-probe")
        pub.publish(*probe.online(), qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 15
        while "restart-probe" not in _devices_seen(api):  # the bridge is subscribed and writing
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)

        devices = [Device(f"restart-{i}") for i in range(DEVICES)]
        killed = threading.Event()

        def stream() -> None:
            for n in range(BATCHES):
                for d in devices:
                    pub.publish(*d.telemetry(obs=OBS), qos=1)
                if n == BATCHES // 3:
                    killed.wait(10)
                time.sleep(0.002)

        t = threading.Thread(target=stream, name="publisher")
        t.start()
        engine = make_engine(pg_url)
        while True:  # kill it while it is busy: some batches committed, more in flight
            with engine.connect() as conn:
                done = conn.execute(select(func.coalesce(func.sum(TelemetryStream.received), 0))).scalar_one()
            if done >= DEVICES * BATCHES // 5:
                break
            time.sleep(0.01)
        cloud.send_signal(signal.SIGKILL)
        cloud.wait()
        killed.set()
        time.sleep(0.5)
        cloud = _start_cloud(api, mosquitto_broker.url, pg_url, log)
        t.join()

        deadline = time.monotonic() + 60
        while True:
            with engine.connect() as conn:
                stored = conn.execute(
                    select(func.coalesce(func.sum(TelemetryStream.received), 0))
                ).scalar_one()
            if stored == DEVICES * BATCHES or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        with engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(observation)).scalar_one()
            gaps = conn.execute(
                select(func.count()).select_from(TelemetryGap).where(TelemetryGap.closed_at.is_(None))
            ).scalar_one()
            dups = conn.execute(select(func.sum(TelemetryStream.duplicates))).scalar_one()
        engine.dispose()
        assert stored == DEVICES * BATCHES
        assert rows == DEVICES * BATCHES * len(OBS)  # every batch once: none lost, none twice
        assert gaps == 0
        print(f"redelivered after the kill and deduplicated: {dups} batches")
        cloud.send_signal(signal.SIGTERM)  # a clean stop: writes and acknowledges what it holds
        assert cloud.wait(timeout=20) == 0, log.read_text()[-2000:]
    finally:
        pub.loop_stop()
        pub.disconnect()
        if cloud.poll() is None:
            cloud.kill()
            cloud.wait()
