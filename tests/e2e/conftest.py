"""End-to-end fixtures: the cloud process on PostgreSQL, on the broker a test chooses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import CloudProcess, CloudTables
from tests.services import PostgresServer


@pytest.fixture
def pg_db(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh PostgreSQL database for one test (the cloud migrates it on start)."""
    with postgres_server.fresh_database("mob_e2e") as url:
        yield url


@pytest.fixture
def tables(pg_db: str) -> Iterator[CloudTables]:
    t = CloudTables(pg_db)
    yield t
    t.close()


def start_cloud(broker_url: str, db_url: str, workdir: Path) -> CloudProcess:
    cloud = CloudProcess(broker_url=broker_url, db_url=db_url, log_path=workdir / "cloud.log")
    cloud.start()
    return cloud
