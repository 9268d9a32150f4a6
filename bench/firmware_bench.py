"""Firmware benchmark under the MicroPython unix port: peak heap use and batches/s published.

    python bench/firmware_bench.py [--seconds 20] [--heap 100K] [--backlog 10]

Runs the built bundle against a local Mosquitto (our generated config) with a dense scripted crowd
(64 phones advertising every 25 ms, so every 500 ms scan window fills two 32-observation batches). Two phases:
1. backlog: the broker is down for --backlog seconds while batches pile up in the flash outbox; then
   it starts and we time how fast the firmware drains the backlog (batches/s, QoS 1, one in flight);
2. steady state: batches/s and observations/s over --seconds with the broker up.
Peak heap: the firmware's own high-water marks (gc.mem_alloc() sampled each second and at every
batch close; minimum gc.mem_free()), printed on its console with every heartbeat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiomqtt

from cloud.broker.ports import free_port
from firmware import build
from firmware.host.launcher import HEAP, Board
from protocol import codec, topics
from tests.services import MosquittoProcess

DEVICE = "esp-bench"


def crowd(n: int = 64, every_ms: int = 25) -> str:
    lines = [
        f"{i * every_ms // n} {i % 2} {0xA0 + i % 16:02x}:c1:38:00:{i // 256:02x}:{i % 256:02x} "
        f"-{50 + i % 40}"
        for i in range(n)
    ]
    return "\n".join(lines) + f"\nperiod {every_ms}\n"


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--heap", default=HEAP, help="MicroPython heap (default: the launcher's, issue 5's 100K)")
    ap.add_argument("--backlog", type=float, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bundle = tmp / "bundle"
        manifest = build.build(bundle)
        broker = MosquittoProcess(workdir=tmp / "mosq", port=free_port(), executable="/usr/sbin/mosquitto")
        broker.workdir.mkdir()
        broker.start()
        (tmp / "flash").mkdir()
        (tmp / "flash" / "device.json").write_text(
            json.dumps(
                {
                    "device_id": DEVICE,
                    "fleet_key": "00" * 32,
                    "outbox_max": 256,
                    "mqtt": {"host": broker.host, "port": broker.port, "keepalive": 30},
                }
            )
        )
        (tmp / "crowd.txt").write_text(crowd())
        desired = codec.encode(
            codec.make(
                "config_desired",
                DEVICE,
                "0badcafe",
                0,
                0,
                {"version": 1, "config": {"scan_ms": 500, "batch_s": 1, "batch_max": 32, "heartbeat_s": 5}},
            )
        )
        async with aiomqtt.Client(broker.host, broker.port) as c:
            await c.publish(topics.topic(DEVICE, topics.CONFIG_DESIRED), desired, qos=1, retain=True)
        board = Board(
            flash=tmp / "flash", code=bundle, crowd=tmp / "crowd.txt", heap=args.heap, log=tmp / "fw.log"
        )
        arrivals: list[tuple[float, int]] = []

        async def observe() -> None:
            # A persistent session: what arrives while we reconnect is kept for us by Mosquitto.
            while True:
                try:
                    async with aiomqtt.Client(
                        broker.host, broker.port, identifier="bench", clean_session=False
                    ) as c:
                        await c.subscribe(topics.topic(DEVICE, topics.TELEMETRY), qos=1)
                        async for m in c.messages:
                            arrivals.append(
                                (time.monotonic(), len(codec.decode(bytes(m.payload)).body["obs"]))
                            )
                except (aiomqtt.MqttError, OSError):
                    await asyncio.sleep(0.1)

        board.start()
        await asyncio.sleep(3)  # connect, get the config
        obs_task = asyncio.create_task(observe(), name="bench-observer")
        await asyncio.sleep(1)
        broker.stop()
        await asyncio.sleep(args.backlog)
        stored = len([p for p in (tmp / "flash" / "outbox").iterdir() if p.name != "state.json"])
        n0 = len(arrivals)
        broker.start()
        t0 = time.monotonic()
        while True:
            await asyncio.sleep(0.2)
            depth = len([p for p in (tmp / "flash" / "outbox").iterdir() if p.name != "state.json"])
            if depth <= 1 or time.monotonic() - t0 > 60:
                break
        drain_s = time.monotonic() - t0
        drained = len(arrivals) - n0
        n1, t1 = len(arrivals), time.monotonic()
        await asyncio.sleep(args.seconds)
        steady = arrivals[n1:]
        steady_s = time.monotonic() - t1
        obs_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await obs_task
        board.stop()
        broker.stop()
        stats = re.findall(r"stats heap_peak=(\d+) heap_min_free=(\d+)", (tmp / "fw.log").read_text())
        peak = max(int(p) for p, _ in stats) if stats else -1
        min_free = min(int(f) for _, f in stats) if stats else -1
        print(
            f"bundle: {manifest['total']} bytes (budget {manifest['budget']}), heap -X heapsize={args.heap}"
        )
        print(f"peak heap in use: {peak} bytes; lowest free: {min_free} bytes")
        print(
            f"backlog: {stored} batches stored while the broker was down {args.backlog:.0f}s; "
            f"{drained} delivered in {drain_s:.2f}s = {drained / drain_s:.1f} batches/s"
        )
        print(
            f"steady: {len(steady)} batches, {sum(n for _, n in steady)} observations in {steady_s:.1f}s "
            f"= {len(steady) / steady_s:.2f} batches/s, {sum(n for _, n in steady) / steady_s:.0f} obs/s"
        )
        print(f"host user {getpass.getuser()}, boots {board.boots}")


if __name__ == "__main__":
    asyncio.run(main())
