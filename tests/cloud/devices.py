"""A test device that speaks protocol v1 through the shared codec, over a real broker.

`DeviceProcess` runs one in a child process (paho) so a test can SIGKILL it: the kernel closes the
socket and the broker fires the Last Will, exactly as when a truck loses its modem.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from protocol.codec import encode, make

OBS = [[10, "w", "00000000000000aa", -60, 1, 49_000_000, 16_000_000]]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Device:
    """Builds a device's messages with a monotonically increasing seq."""

    device_id: str
    boot: str = field(default_factory=lambda: os.urandom(4).hex())
    seq: int = -1
    batch: int = -1

    def _next(self, type_: str, body: dict[str, object]) -> tuple[str, bytes]:
        self.seq += 1
        msg = make(type_, self.device_id, self.boot, self.seq, now_ms(), body)
        return msg.topic(), encode(msg)

    def will(self) -> tuple[str, bytes]:
        return self._next("status", {"state": "offline", "reason": "connection_lost"})

    def online(self) -> tuple[str, bytes]:
        return self._next("status", {"state": "online"})

    def shutdown(self) -> tuple[str, bytes]:
        return self._next("status", {"state": "offline", "reason": "shutdown"})

    def hello(self, *, hw: str = "esp32", heartbeat_s: int = 60) -> tuple[str, bytes]:
        return self._next("hello", {"hw": hw, "fw": "1.2.3", "heartbeat_s": heartbeat_s, "caps": ["ble"]})

    def heartbeat(self, *, interval_s: int = 60, **health: int) -> tuple[str, bytes]:
        return self._next("heartbeat", {"uptime_s": 10, "interval_s": interval_s, **health})

    def telemetry(
        self, batch: int | None = None, *, obs: list[list[object]] | None = None
    ) -> tuple[str, bytes]:
        if batch is None:
            self.batch += 1
            batch = self.batch
        return self._next("telemetry", {"batch": batch, "t0": now_ms() - 1000, "obs": obs or OBS})

    def reported(self, version: int, config: dict[str, object]) -> tuple[str, bytes]:
        return self._next("config_reported", {"version": version, "config": config})


_CHILD = r"""
import sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
host, port, device_id, will_hex, online_hex, hello_hex = sys.argv[1:7]
c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, clean_session=False)
c.will_set("mob/v1/%s/status" % device_id, bytes.fromhex(will_hex), qos=1, retain=True)
c.connect(host, int(port), keepalive=60)
c.loop_start()
c.publish("mob/v1/%s/status" % device_id, bytes.fromhex(online_hex), qos=1, retain=True).wait_for_publish()
c.publish("mob/v1/%s/hello" % device_id, bytes.fromhex(hello_hex), qos=1).wait_for_publish()
print("up", flush=True)
time.sleep(3600)
"""


class DeviceProcess:
    """A device in a child process, connected with its Last Will, until killed."""

    def __init__(self, host: str, port: int, device: Device, *, heartbeat_s: int = 60) -> None:
        will = device.will()[1]
        online = device.online()[1]
        hello = device.hello(heartbeat_s=heartbeat_s)[1]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _CHILD,
                host,
                str(port),
                device.device_id,
                will.hex(),
                online.hex(),
                hello.hex(),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "up", line

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
