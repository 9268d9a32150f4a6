"""The production side of an end-to-end test: the real cloud process on PostgreSQL, a loopback TCP
proxy that can lose the link, and reads of the cloud's own tables.

The cloud runs as ``python -m cloud up --broker ... --db postgresql://...`` so a test can SIGKILL it
and start it again on the same persistent MQTT session, the way a crashed replica comes back.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
from sqlalchemy import Engine, func, select

from cloud.broker.ports import free_port
from cloud.core.db import make_engine
from cloud.ingest.models import TelemetryBatch, TelemetryGap, TelemetryStream, observation
from cloud.registry.models import Device
from tests.services import REPO, python_env

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], within_s: float, what: str) -> T:
    """Poll ``predicate`` (its state lives in another process: a database, a log) until truthy."""
    deadline = time.monotonic() + within_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s}s: {what} (last value {value!r})")
        time.sleep(0.1)


@dataclass
class CloudProcess:
    """``python -m cloud up`` against an external broker and database; one persistent session id."""

    broker_url: str
    db_url: str
    log_path: Path
    api_port: int = field(default_factory=free_port)
    client_id: str = field(default_factory=lambda: f"cloud-e2e-{uuid.uuid4().hex[:8]}")
    proc: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def bridge_connections(self) -> int:
        """How many times the bridge has connected to the broker (its log says so each time)."""
        if not self.log_path.exists():
            return 0
        return self.log_path.read_text(errors="replace").count("bridge.connected")

    def start(self, within_s: float = 30) -> None:
        before = self.bridge_connections()
        env = {**python_env(), "MOBILYTICS_CLIENT_ID": self.client_id, "MOBILYTICS_SWEEP_INTERVAL_S": "0.2"}
        out = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "cloud", "up",
                "--port", str(self.api_port), "--broker", self.broker_url, "--db", self.db_url,
            ],
            cwd=REPO, env=env, stdout=out, stderr=out,
        )  # fmt: skip
        out.close()
        try:
            wait_until(self._healthy, within_s, "the cloud's /health")
            wait_until(lambda: self.bridge_connections() > before, within_s, "the bridge connected")
        except AssertionError:
            self.kill()
            raise AssertionError(f"the cloud did not come up; its log:\n{self.tail()}") from None

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the cloud exited with {self.proc.returncode}:\n{self.tail()}")
        try:
            return httpx.get(f"{self.api}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """A crash: SIGKILL, nothing flushed, no clean disconnect."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> int:
        """A clean stop (SIGTERM): the bridge writes and acknowledges what it holds."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def tail(self, n: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""

    def token(self, scope: str = "write") -> str:
        """A fresh API token from ``mobilytics token create`` on the same database."""
        out = subprocess.run(
            [sys.executable, "-m", "cloud", "token", "create", "--scope", scope, "--name", "e2e",
             "--db", self.db_url],
            cwd=REPO, env=python_env(), capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return out.stdout.strip().splitlines()[-1]


class CloudTables:
    """What the cloud stored, read straight from its PostgreSQL tables."""

    def __init__(self, db_url: str) -> None:
        self.engine: Engine = make_engine(db_url)

    def close(self) -> None:
        self.engine.dispose()

    def batches(self, device_id: str) -> list[tuple[str, int, int]]:
        """(boot, batch, n_obs) of every stored batch; the primary key makes each one unique."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(TelemetryBatch.boot, TelemetryBatch.batch, TelemetryBatch.n_obs).where(
                    TelemetryBatch.device_id == device_id
                )
            ).all()
        return [tuple(r) for r in rows]  # type: ignore[misc]

    def batch_keys(self, device_id: str) -> set[tuple[str, int]]:
        return {(boot, batch) for boot, batch, _ in self.batches(device_id)}

    def observations_per_batch(self, device_id: str) -> dict[tuple[str, int], int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(observation.c.boot, observation.c.batch, func.count())
                .where(observation.c.device_id == device_id)
                .group_by(observation.c.boot, observation.c.batch)
            ).all()
        return {(boot, batch): n for boot, batch, n in rows}

    def open_gaps(self, device_id: str) -> list[tuple[str, int, int]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(TelemetryGap.boot, TelemetryGap.first_batch, TelemetryGap.last_batch).where(
                    TelemetryGap.device_id == device_id,
                    TelemetryGap.closed_at.is_(None),  # type: ignore[union-attr]
                )
            ).all()
        return [tuple(r) for r in rows]  # type: ignore[misc]

    def duplicates(self, device_id: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.coalesce(func.sum(TelemetryStream.duplicates), 0)).where(
                    TelemetryStream.device_id == device_id
                )
            ).scalar_one()

    def device(self, device_id: str) -> Device | None:
        from sqlmodel import Session

        with Session(self.engine) as s:
            device = s.get(Device, device_id)
            if device is not None:
                s.expunge(device)
            return device


class TcpProxy:
    """A loopback TCP relay in front of the broker: the device's link, which a test can lose.

    ``cut()`` is a link that goes quiet (a truck in a tunnel): bytes already in flight stay where they
    are, nothing more is relayed, and new connections are accepted and closed at once. ``restore()``
    drops the stale connections (as a carrier NAT forgets them) and relays again. The broker itself
    never restarts, so its sessions and queues stay as they were.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = "127.0.0.1"
        self._listener = socket.create_server((self.host, 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self.connections = 0

    def start(self) -> TcpProxy:
        self._spawn(self._accept, "proxy:accept")
        return self

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=2)
            except OSError:  # the broker is down: the device sees its connection closed
                client.close()
                continue
            for s in (client, upstream):
                s.settimeout(0.1)
            with self._lock:
                self._pairs.append((client, upstream))
                self.connections += 1
            self._spawn(self._pump, "proxy:up", client, upstream)
            self._spawn(self._pump, "proxy:down", upstream, client)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while not self._closed.is_set():
            if self._cut.is_set():  # the link is quiet: leave the bytes in the kernel's buffers
                time.sleep(0.05)
                continue
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            try:
                dst.sendall(data)
            except OSError:
                break
        self._close_pair(src, dst)

    def _close_pair(self, a: socket.socket, b: socket.socket) -> None:
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _drop_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            self._close_pair(a, b)

    def cut(self) -> None:
        self._cut.set()

    def restore(self) -> None:
        self._drop_all()
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        self._drop_all()
        for t in self._threads:
            t.join(timeout=2)
