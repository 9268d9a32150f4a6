"""A simulated ESP32 for tests: the firmware bundle under the real micropython, on the host
stand-ins, with a scripted BLE crowd and GPS, against a real broker (Mosquitto or amqtt).

Shared by the firmware's own broker tests and the end-to-end tests into the cloud.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware import build
from firmware.host.launcher import Board
from tests.services import AmqttThread, MosquittoProcess

FLEET_KEY = bytes(range(32))
CROWD = """\
# scripted crowd for the simulated BLE radio: offset_ms addr_type mac rssi
50 0 a4:c1:38:00:00:01 -55
120 1 5e:aa:bb:cc:dd:02 -67
200 0 f0:99:b6:00:00:03 -72
260 0 a4:c1:38:00:00:01 -58
330 0 3c:22:fb:00:00:04 -91
period 400
"""
NMEA = """\
$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47
$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A
"""
FAST = {"heartbeat_s": 5, "batch_s": 1, "scan_ms": 500}


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fw") / "bundle"
    build.build(out)
    return out


@pytest.fixture(params=["mosquitto", "amqtt"])
def broker(request: pytest.FixtureRequest) -> MosquittoProcess | AmqttThread:
    return request.getfixturevalue(f"{request.param}_broker")


def make_board(
    tmp_path: Path, code: Path, broker: MosquittoProcess | AmqttThread, micropython: str, **device: object
) -> Board:
    """A board on a fresh flash provisioned for ``broker`` (``device`` adds device.json keys), the
    scripted crowd and GPS, logging to ``tmp_path/firmware.log``; not started."""
    device_id = f"esp-{uuid.uuid4().hex[:8]}"
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "device.json").write_text(
        json.dumps(
            {
                "device_id": device_id,
                "fleet_key": FLEET_KEY.hex(),
                "wifi": {"ssid": "billboard", "psk": "secret"},
                "mqtt": {"host": broker.host, "port": broker.port, "keepalive": 10},
                **device,
            }
        )
    )
    (tmp_path / "crowd.txt").write_text(CROWD)
    (tmp_path / "nmea.txt").write_text(NMEA)
    b = Board(
        flash=flash,
        code=code,
        crowd=tmp_path / "crowd.txt",
        nmea=tmp_path / "nmea.txt",
        micropython=micropython,
        log=tmp_path / "firmware.log",
    )
    b.device = device_id  # type: ignore[attr-defined]
    return b


@pytest.fixture
def board(
    tmp_path: Path, bundle: Path, broker: MosquittoProcess | AmqttThread, micropython: str
) -> Iterator[Board]:
    b = make_board(tmp_path, bundle, broker, micropython)
    yield b
    b.stop()
    print((tmp_path / "firmware.log").read_text()[-3000:])
