"""Real peers for tests: a Mosquitto process, PostgreSQL databases, the embedded amqtt broker.

Each runs for real on loopback. With CI=true a missing service fails the test (CI must never pass
by skipping); elsewhere the test skips with a reason that says how to get the service.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from amqtt.broker import Broker

from cloud.broker.embedded import embedded_broker
from cloud.broker.mosquitto import MosquittoConfig
from cloud.broker.ports import free_port

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def python_env() -> dict[str, str]:
    """The environment for a Python subprocess that must import this checkout's packages."""
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO),
    }


def unavailable(reason: str) -> None:
    """Skip outside CI, fail in CI: a missing service must never turn a CI run green."""
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def find_executable(name: str) -> str | None:
    """An executable on PATH or beside this interpreter (a venv's bin/ need not be on PATH)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


@dataclass
class MosquittoProcess:
    """A Mosquitto broker on a free loopback port, started from the config the cloud generates.

    stop/start keep the port and the persistence directory, so tests can restart the broker
    mid-stream the way ops would.
    """

    workdir: Path
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    executable: str = "mosquitto"
    # Further MosquittoConfig fields (tls, password_file, acl_file, allow_anonymous, plain).
    options: dict[str, Any] = field(default_factory=dict)
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> MosquittoConfig:
        return MosquittoConfig(
            host=self.host,
            port=self.port,
            data_dir=self.workdir / "data",
            user=getpass.getuser(),
            **self.options,
        )

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def reload(self) -> None:
        """SIGHUP: Mosquitto re-reads its password, ACL and CRL files (issue 7's revocation path)."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGHUP)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def start(self) -> None:
        conf = self.config.write(self.workdir / "mosquitto.conf")
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen([self.executable, "-c", str(conf)], stdout=log, stderr=log)
        config = self.config
        try:
            for port in ([self.port] if config.plain else []) + ([config.tls.port] if config.tls else []):
                wait_for_port(self.host, port)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"mosquitto did not start; its log:\n{self.log_path.read_text()}") from None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM is a clean stop (state saved); SIGKILL is a crash."""
        if self._proc is None:
            return
        self._proc.send_signal(sig)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


@dataclass(frozen=True)
class PostgresServer:
    """Where the tests' PostgreSQL server is; each test session gets its own database on it."""

    admin_url: str

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextmanager
    def fresh_database(self, prefix: str) -> Iterator[str]:
        """A new empty database named ``prefix_<random>``, dropped (connections forced out) after."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        url = self.create_database(name)
        try:
            yield url
        finally:
            self.drop_database(name)

    def reachable(self) -> str | None:
        """None when reachable, else the reason."""
        import psycopg

        try:
            with psycopg.connect(self.admin_url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as e:
            return str(e).strip()
        return None


class AmqttThread:
    """The embedded amqtt broker in a thread with its own event loop.

    A thread, not the test's loop: synchronous tests that drive subprocesses (firmware under
    MicroPython, the agent) block their thread, and the broker must keep serving meanwhile.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int | None = None, *, config: dict[str, Any] | None = None
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        # A whole amqtt config (e.g. cloud.broker.amqtt_auth.secure_broker_config); None: the embedded one.
        self.config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> None:
        ready = threading.Event()

        async def serve() -> None:
            self._stop = asyncio.Event()
            try:
                if self.config is not None:
                    broker = Broker(self.config)
                    await broker.start()
                    try:
                        ready.set()
                        await self._stop.wait()
                    finally:
                        await broker.shutdown()
                    return
                async with embedded_broker(self.host, self.port):
                    ready.set()
                    await self._stop.wait()
            except BaseException as e:  # reported to the starting thread below
                self._error = e
                ready.set()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(serve())
            self._loop.close()

        self._thread = threading.Thread(target=run, name=f"amqtt:{self.port}", daemon=True)
        self._thread.start()
        ready.wait(timeout=15)
        if self._error is not None:
            raise RuntimeError(f"amqtt did not start: {self._error!r}") from self._error
        wait_for_port(self.host, self.port)

    def stop(self) -> None:
        if self._loop is None or self._stop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=15)
        self._loop = self._thread = self._stop = None

    def restart(self) -> None:
        self.stop()
        self.start()
