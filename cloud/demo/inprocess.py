"""Simulated devices inside the cloud process: the fallback when the real device code cannot run.

`cloud/demo/fleet.py` runs real edge agents and real firmware; when an instance's runtime is missing
(no `micropython` executable, no edge agent importable) it runs one of these instead. Each speaks
protocol v1 through the shared codec, with a Last Will on its status topic, exactly as a real device
would; the sensor readings are invented.
"""

from __future__ import annotations

import asyncio
import os
import random
import time

import aiomqtt

from protocol import subscriptions, topics
from protocol.codec import encode, make

HEARTBEAT_S = 5
BATCH_S = 2


def _now_ms() -> int:
    return int(time.time() * 1000)


class SimulatedDevice:
    def __init__(self, device_id: str, hardware: str, rng: random.Random) -> None:
        self.device_id = device_id
        self.hardware = hardware
        self.boot = os.urandom(4).hex()
        self.seq = 0
        self.batch = -1  # batches are contiguous from 0 within a boot
        self.rng = rng
        self.started = time.monotonic()

    def _next(self, type_: str, body: dict[str, object]) -> bytes:
        self.seq += 1
        return encode(make(type_, self.device_id, self.boot, self.seq, _now_ms(), body))

    def hello(self) -> bytes:
        return self._next(
            "hello",
            {"hw": self.hardware, "fw": "0.1.0-sim", "heartbeat_s": HEARTBEAT_S, "caps": ["ble", "gps"]},
        )

    def heartbeat(self) -> bytes:
        uptime = int(time.monotonic() - self.started)
        return self._next(
            "heartbeat", {"uptime_s": uptime, "interval_s": HEARTBEAT_S, "outbox": 0, "dropped": 0}
        )

    def telemetry(self) -> bytes:
        self.batch += 1
        obs = [
            [
                self.rng.randrange(0, BATCH_S * 1000),
                self.rng.choice("wb"),
                f"{self.rng.getrandbits(64):016x}",
                self.rng.randint(-95, -40),
                self.rng.getrandbits(1),
                49_195_000 + self.rng.randint(-500, 500),
                16_608_000 + self.rng.randint(-500, 500),
            ]
            for _ in range(self.rng.randint(5, 40))
        ]
        return self._next("telemetry", {"batch": self.batch, "t0": _now_ms() - BATCH_S * 1000, "obs": obs})


async def run_device(device: SimulatedDevice, host: str, port: int) -> None:
    status = topics.topic(device.device_id, topics.STATUS)
    # The will's seq is reserved at connect time (SPEC §5.7): above everything sent before, below this
    # connection's online; that is how the cloud tells it from a late will of an earlier connection.
    device.seq += 1  # reserved for the will (SPEC §5.7)
    offline = encode(
        make(
            "status",
            device.device_id,
            device.boot,
            device.seq,
            _now_ms(),
            {"state": "offline", "reason": "connection_lost"},
        )
    )
    will = aiomqtt.Will(status, offline, qos=1, retain=True)
    async with aiomqtt.Client(host, port, identifier=device.device_id, will=will) as client:
        online = device._next("status", {"state": "online"})
        await client.publish(status, online, qos=1, retain=True)
        await client.publish(topics.topic(device.device_id, topics.HELLO), device.hello(), qos=1)
        next_heartbeat = 0.0
        while True:
            if time.monotonic() >= next_heartbeat:
                await client.publish(
                    topics.topic(device.device_id, topics.HEARTBEAT),
                    device.heartbeat(),
                    qos=subscriptions.QOS[topics.HEARTBEAT],
                )
                next_heartbeat = time.monotonic() + HEARTBEAT_S
            await client.publish(topics.topic(device.device_id, topics.TELEMETRY), device.telemetry(), qos=1)
            await asyncio.sleep(BATCH_S)
