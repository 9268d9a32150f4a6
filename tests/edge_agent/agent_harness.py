"""The edge agent as a real subprocess, and a recording subscriber, for the end-to-end tests."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

from protocol import codec

REPO = Path(__file__).resolve().parents[2]
FLEET_KEY_HEX = "6d6f62696c79746963732d746573742d666c6565742d6b6579"


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def write_config(path: Path, device_id: str, data_dir: Path, port: int, tables: dict[str, dict]) -> Path:
    lines = [
        f"device_id = {toml_value(device_id)}",
        f"fleet_key_hex = {toml_value(FLEET_KEY_HEX)}",
        f"data_dir = {toml_value(str(data_dir))}",
        "[mqtt]",
        'host = "127.0.0.1"',
        f"port = {port}",
        "backoff_initial_s = 0.2",
        "backoff_max_s = 1.0",
        "publish_timeout_s = 3",
    ]
    for name, values in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class AgentProcess:
    """``python -m edge_agent run`` with its log in ``log_path``."""

    config: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "run", "--config", str(self.config), "--log-level", "debug"],
            cwd=REPO,
            stdout=log,
            stderr=log,
        )

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=20)
        self.proc = None
        return code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGKILL)


def outbox_state(data_dir: Path) -> dict:
    """Read the agent's outbox (WAL allows a reader beside the writer): the persisted counters,
    ``pending`` as (boot, batch) of the messages still held, and ``stored``, how many messages were
    ever stored (AUTOINCREMENT's high-water mark)."""
    db = sqlite3.connect(f"file:{data_dir / 'outbox.sqlite'}?mode=ro", uri=True)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        pending = [codec.decode(p) for (p,) in db.execute("SELECT payload FROM outbox")]
        meta["pending"] = {(m.boot, m.body["batch"]) for m in pending}
        meta["depth"] = len(pending)
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        meta["stored"] = row[0] if row else 0
        return meta
    finally:
        db.close()


@dataclass
class Recorder:
    """An aiomqtt subscriber on one device's topics, with a persistent session so nothing published
    while it reconnects (broker restarts) is missed. Decodes every message with the codec."""

    host: str
    port: int
    device_id: str
    messages: list[codec.Message] = field(default_factory=list)
    telemetry: dict[tuple[str, int], list[codec.Message]] = field(default_factory=dict)
    client_id: str = field(default_factory=lambda: f"recorder-{uuid.uuid4().hex[:8]}")
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, identifier=self.client_id, clean_session=False
                ) as c:
                    await c.subscribe(f"mob/v1/{self.device_id}/#", qos=1)
                    self.connected.set()
                    async for m in c.messages:
                        if not m.payload:
                            continue
                        msg = codec.decode(m.payload, m.topic.value)
                        self.messages.append(msg)
                        if msg.type == "telemetry":
                            self.telemetry.setdefault((msg.boot, msg.body["batch"]), []).append(msg)
            except aiomqtt.MqttError:
                self.connected.clear()
                await asyncio.sleep(0.2)

    def of_type(self, type_: str) -> list[codec.Message]:
        return [m for m in self.messages if m.type == type_]

    def observations(self) -> list[tuple]:
        """(ts, kind, hid, rssi, flags, lat, lon) of every batch, each batch counted once."""
        out = []
        for copies in self.telemetry.values():
            body = copies[0].body
            out += [(body["t0"] + r[0], *r[1:7]) for r in body["obs"]]
        return out


async def until(predicate: Callable[[], bool], within_s: float, what: str) -> None:
    """Poll ``predicate`` (it reads state no event reports: another process, a database file)."""
    try:
        async with asyncio.timeout(within_s):
            while not predicate():  # noqa: ASYNC110 (nothing to await: the state is in another process)
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"not within {within_s}s: {what}") from None
