"""Fixtures for the control plane's tests: a migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiomqtt
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.bridge.service import Bridge, BridgeConfig
from cloud.core.db import make_engine, migrate
from cloud.presence.rules import Policy
from tests.services import PostgresServer

T = TypeVar("T")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind the cloud runs on: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cloud.sqlite3'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    with server.fresh_database("mob_cloud") as url:
        yield url


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh PostgreSQL database for one test (for the tests that need PostgreSQL specifically)."""
    with postgres_server.fresh_database("mob_cloud") as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated database (SQLite and PostgreSQL), disposed afterwards."""
    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


@dataclass
class Cloud:
    """A running bridge over a real broker and a migrated database, plus a device-side client."""

    engine: Engine
    host: str
    port: int
    bridge: Bridge
    broker: object

    async def wait_for(self, predicate: Callable[[Session], T], within: float = 10.0) -> T:
        """Poll the database until `predicate(session)` is truthy; its value, or AssertionError."""
        deadline = time.monotonic() + within
        while True:
            with Session(self.engine) as session:
                value = predicate(session)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {within}s (last value {value!r})")
            await asyncio.sleep(0.05)

    @contextlib.asynccontextmanager
    async def client(self, client_id: str, **kw: object) -> AsyncIterator[aiomqtt.Client]:
        async with aiomqtt.Client(self.host, self.port, identifier=client_id, **kw) as c:  # type: ignore[arg-type]
            yield c


@pytest.fixture(params=["mosquitto+postgresql", "amqtt+sqlite"])
async def cloud(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cloud]:
    """The bridge on Mosquitto + PostgreSQL (production) and on amqtt + SQLite (the embedded default)."""
    if request.param == "mosquitto+postgresql":
        broker = request.getfixturevalue("mosquitto_broker")
        url = request.getfixturevalue("pg_url")
    else:
        broker = request.getfixturevalue("amqtt_broker")
        url = f"sqlite:///{tmp_path / 'cloud.sqlite3'}"
    engine = make_engine(url)
    migrate(engine)
    config = BridgeConfig(
        host=broker.host,
        port=broker.port,
        client_id=f"cloud-{uuid.uuid4().hex[:8]}",
        sweep_interval_s=0.1,
        policy=Policy(stable_s=1.0),
    )
    bridge = Bridge(engine, config)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(bridge.run(), name="test.bridge")
        async with asyncio.timeout(15):
            await bridge.ready.wait()
        try:
            yield Cloud(engine, broker.host, broker.port, bridge, broker)
        finally:
            bridge.stop()
            # A stop drains the last flush; against an unresponsive broker that is one publish and
            # one disconnect, each bounded by the client's 10 s timeout (cloud/bridge/mqtt.py).
            async with asyncio.timeout(30):
                await task
    engine.dispose()
