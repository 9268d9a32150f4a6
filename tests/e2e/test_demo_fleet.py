"""Issue 2's demo: `mobilytics up --simulate N` runs real device code, owns it, and stops it.

The edge agents and firmware instances are child processes of the stack: their hello says so
(the real agent and firmware versions, not the in-process stand-in's "-sim"), and after SIGTERM none
of them is left running. Without micropython the ESP32 half falls back to in-process devices.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiomqtt
import httpx
import pytest

from cloud.broker.ports import free_port
from cloud.demo import fleet
from firmware import build
from protocol import codec, topics
from tests.services import AmqttThread
from tests.test_up import running_stack, wait_for

pytestmark = pytest.mark.micropython


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc: children of each of its threads)."""
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += list(kids - out)
            out |= kids
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_the_simulated_fleet_is_real_agents_and_firmware_stopped_with_the_stack(
    tmp_path: Path, micropython: str
) -> None:
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    args = ["--mqtt-port", str(free_port()), "--db", f"sqlite:///{tmp_path / 'demo.sqlite3'}"]
    with running_stack([*args, "--port", str(api_port), "--simulate", "2"], tmp_path) as proc:

        def reporting() -> list[dict] | None:
            items = httpx.get(f"{api}/devices", timeout=5).json()["items"]
            live = [d for d in items if d["heartbeats"] >= 1 and d["observations"] > 0]
            return live if len(live) == 2 else None

        devices = {d["hardware"]: d for d in wait_for(reporting, "both devices reporting", proc, timeout=60)}
        assert devices["esp32"]["firmware_version"] == build.read_version()  # the firmware's own hello
        assert "free_mem" in devices["esp32"]["health"]  # MicroPython's gc.mem_free(), by its heartbeat
        assert devices["rpi"]["agent_version"]  # only the edge agent reports one
        children = descendants(proc.pid)
        names = {Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ") for p in children if alive(p)}
        assert any(b"edge_agent run" in n for n in names), names
        assert any(b"firmware.host.launcher" in n for n in names), names
        assert any(b"heapsize=" in n for n in names), names  # MicroPython itself
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    assert not [p for p in children if alive(p)], "a demo device outlived the stack"


async def test_without_micropython_the_esp32s_run_in_process(
    amqtt_broker: AmqttThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleet, "find_micropython", lambda: None)
    assert "micropython" in (fleet.firmware_missing() or "")
    hellos: dict[str, dict] = {}
    async with aiomqtt.Client(amqtt_broker.host, amqtt_broker.port) as c:
        await c.subscribe(f"mob/v1/+/{topics.HELLO}", qos=1)
        async with asyncio.TaskGroup() as tg:
            demo = tg.create_task(fleet.run_fleet(2, amqtt_broker.host, amqtt_broker.port), name="demo")
            async with asyncio.timeout(30):
                async for m in c.messages:
                    msg = codec.decode(bytes(m.payload), m.topic.value)
                    hellos[msg.body["hw"]] = msg.body
                    if len(hellos) == 2:
                        break
            demo.cancel()
    assert hellos["esp32"]["fw"].endswith("-sim")  # the in-process stand-in
    assert not hellos["rpi"]["fw"].endswith("-sim")  # still the real agent
