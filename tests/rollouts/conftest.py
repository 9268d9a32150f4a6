"""Fixtures for rollouts: a fleet root with release keys, signed releases, an API on a real database.

The database fixtures (`engine` on SQLite and PostgreSQL, `cloud` = a bridge on Mosquitto +
PostgreSQL and on amqtt + SQLite) are the control plane's own, imported from tests/cloud.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.api.app import create_app
from cloud.auth.models import Scope
from cloud.auth.service import create_token
from cloud.broker.ports import free_port
from cloud.core.config import Settings
from cloud.core.types import utcnow
from ota import signing
from ota.device.metadata import Release
from ota.keys import SigningKey
from tests.cloud.conftest import Cloud, cloud, db_url, engine, pg_url  # noqa: F401  (shared fixtures)


@dataclass
class Fleet:
    """A root (2 root keys, threshold 1; 2 release keys, threshold 2) and helpers to sign releases."""

    root_keys: list[SigningKey]
    release_keys: list[SigningKey]
    root_document: bytes

    def release(
        self,
        artifact: bytes,
        *,
        version: int = 2,
        hardware: str = "esp32",
        model: str = "esp32-wroom",
        expires: int | None = None,
        keys: list[SigningKey] | None = None,
    ) -> bytes:
        r = Release(
            version=version,
            expires=expires if expires is not None else int(time.time()) + 86400,
            hardware=hardware,
            model=model,
            length=len(artifact),
            sha256=hashlib.sha256(artifact).hexdigest(),
        )
        return signing.sign(signing.document(r), self.release_keys if keys is None else keys)


@dataclass
class Rotation:
    """A next root of a fleet and the new keys it names (every old key dropped: revoked)."""

    root_keys: list[SigningKey]
    release_keys: list[SigningKey]
    document: bytes


def rotate(old_root_keys: list[SigningKey], *, version: int = 2, forged: bool = False) -> Rotation:
    """Root ``version`` with one new root key and two new release keys (threshold 2), signed by the
    old root's key and the new one (as `mobilytics-ota root rotate` + `sign --document` would);
    ``forged``: by the new key only, as an attacker without the old root keys would sign it."""
    root_keys = [SigningKey.generate()]
    release_keys = [SigningKey.generate() for _ in range(2)]
    root = signing.make_root(
        version=version,
        expires=int(time.time()) + 365 * 86400,
        roles={"root": ([k.public for k in root_keys], 1), "release": ([k.public for k in release_keys], 2)},
    )
    signers = root_keys if forged else old_root_keys[:1] + root_keys
    return Rotation(root_keys, release_keys, signing.sign(signing.document(root), signers))


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    root_keys = [SigningKey.generate() for _ in range(2)]
    release_keys = [SigningKey.generate() for _ in range(2)]
    root = signing.make_root(
        version=1,
        expires=int(time.time()) + 365 * 86400,
        roles={"root": ([k.public for k in root_keys], 1), "release": ([k.public for k in release_keys], 2)},
    )
    return Fleet(root_keys, release_keys, signing.sign(signing.document(root), root_keys[:1]))


@pytest.fixture
def settings(tmp_path: Path, fleet: Fleet) -> Settings:
    root = tmp_path / "ota-root.json"
    root.write_bytes(fleet.root_document)
    return Settings(
        api_host="0.0.0.0",
        releases=str(tmp_path / "releases"),
        ota_root=str(root),
        public_url="http://127.0.0.1:8000",
    )


@pytest.fixture
def tokens(engine: Engine) -> dict[str, str]:  # noqa: F811
    with Session(engine) as s:
        _, read = create_token(s, name="viewer", scope=Scope.READ, now=utcnow())
        _, write = create_token(s, name="ops", scope=Scope.WRITE, now=utcnow())
        s.commit()
    return {"read": {"Authorization": f"Bearer {read}"}, "write": {"Authorization": f"Bearer {write}"}}  # type: ignore[dict-item]


@pytest.fixture
def api(engine: Engine, settings: Settings) -> Iterator[TestClient]:  # noqa: F811
    with TestClient(create_app(engine, settings)) as client:
        yield client


class Files(ThreadingHTTPServer):
    """A real HTTP server with single-range support (`bytes=N-`, as devices resume) serving what the
    test puts in ``files``, hostile bytes included; ``ranges`` records each GET's Range header."""

    files: dict[str, bytes]
    ranges: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: Files

    def do_GET(self) -> None:
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        self.server.ranges.append(rng or "")
        start = int(rng.removeprefix("bytes=").rstrip("-")) if rng else 0
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *_a: object) -> None:
        pass


@pytest.fixture
def http() -> Iterator[Files]:
    server = Files(("127.0.0.1", 0), _Handler)
    server.files, server.ranges = {}, []
    t = threading.Thread(target=server.serve_forever, name="test.http", daemon=True)
    t.start()
    yield server
    server.shutdown()


@pytest.fixture
def server(engine: Engine, settings: Settings) -> Iterator[str]:  # noqa: F811
    """The API in uvicorn on a free loopback port (a thread), over ``engine``: its base URL."""
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(create_app(engine, settings), host="127.0.0.1", port=port, log_level="warning")
    )
    t = threading.Thread(target=srv.run, name="test.api", daemon=True)
    t.start()
    while not srv.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(10)


@dataclass
class Api:
    base_url: str
    headers: dict[str, str]


@pytest.fixture
async def live_api(cloud: Cloud, tmp_path: Path, fleet: Fleet) -> AsyncIterator[Api]:  # noqa: F811
    """The REST API in uvicorn on a free loopback port over ``cloud``'s database: what devices
    download releases from (HTTP Range) and where ops deploy, with a write token."""
    root = tmp_path / "ota-root.json"
    root.write_bytes(fleet.root_document)
    port = free_port()
    settings = Settings(
        releases=str(tmp_path / "releases"), ota_root=str(root), public_url=f"http://127.0.0.1:{port}"
    )
    with Session(cloud.engine) as s:
        _, write = create_token(s, name="ops", scope=Scope.WRITE, now=utcnow())
        s.commit()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(cloud.engine, settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=3,
        )
    )
    task = asyncio.create_task(server.serve(), name="test.api")
    try:
        async with asyncio.timeout(15):
            while not server.started:  # noqa: ASYNC110  (uvicorn exposes a flag, not an event)
                await asyncio.sleep(0.05)
        yield Api(f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {write}"})
    finally:
        server.should_exit = True
        async with asyncio.timeout(15):
            await task


async def deploy(
    api: Api,
    fleet: Fleet,
    device_ids: list[str],
    version: int,
    artifact: bytes,
    *,
    hardware: str,
    model: str,
    waves: tuple[int, ...] = (100,),
    job_deadline_s: int = 120,
    name: str | None = None,
) -> int:
    """Upload a release signed by ``fleet`` and deploy it to ``device_ids``; the deployment id."""
    document = fleet.release(artifact, version=version, hardware=hardware, model=model)
    async with httpx.AsyncClient(base_url=api.base_url, headers=api.headers, timeout=30) as c:
        r = await c.post("/releases", content=document)
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        r = await c.put(f"/releases/{rid}/artifact", content=artifact)
        assert r.status_code == 200, r.text
        r = await c.post(
            "/deployments",
            json={
                "name": name or f"{hardware}-v{version}",
                "release_id": rid,
                "device_ids": device_ids,
                "waves": list(waves),
                "soak_s": 0,
                "job_deadline_s": job_deadline_s,
            },
        )
        assert r.status_code == 201, r.text
        return int(r.json()["id"])
