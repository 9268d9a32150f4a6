"""The fleet UI against real peers: a broker, a database, the bridge, the API in uvicorn, and Chromium.

Chromium is Debian's (`apt-get install chromium`), driven by the Python playwright package through
`executable_path`; `playwright install` is never needed. With CI=true a missing browser fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.api.app import create_app
from cloud.auth.models import Scope
from cloud.auth.service import create_token
from cloud.auth.users import create_user
from cloud.bridge.service import Bridge, BridgeConfig
from cloud.broker.ports import free_port
from cloud.core.config import Settings
from cloud.core.db import make_engine, migrate
from cloud.core.types import utcnow
from cloud.presence.rules import Policy
from cloud.ui.screenshots import CHROMIUM_ARGS
from tests.rollouts.conftest import Api, Fleet, deploy, fleet  # noqa: F401  (the rollout tests' signed fleet root)
from tests.services import unavailable

CHROMIUM = "/usr/bin/chromium"
USER, PASSWORD = "ops-ana", "correct horse battery"


def chromium_path() -> str:
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if path is None:
        unavailable(
            "needs Debian's chromium: apt-get install chromium (scripts/test does); "
            "never `playwright install`"
        )
    try:
        import playwright  # noqa: F401
    except ImportError:
        unavailable("needs the playwright package: pip install -e '.[dev]'")
    return path  # type: ignore[return-value]


@dataclass
class UiStack:
    base_url: str
    engine: Engine
    host: str
    port: int
    fleet: Fleet
    write: dict[str, str]  # Authorization header of an ops token with write scope

    def url(self, path: str) -> str:
        return self.base_url + path

    async def deploy(self, device_id: str, *, name: str, version: int = 2) -> int:
        """Publish a release signed for `rpi` and deploy it to `device_id` through the REST API."""
        api = Api(self.base_url, self.write)
        return await deploy(
            api, self.fleet, [device_id], version, os.urandom(4096), hardware="rpi", model="rpi",
            job_deadline_s=3600, name=name,
        )  # fmt: skip


@pytest.fixture(params=["amqtt+sqlite", "mosquitto+postgresql"])
async def ui_stack(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fleet: Fleet,  # noqa: F811
) -> AsyncIterator[UiStack]:
    """Broker + migrated DB + bridge + the app (API, UI, release store and rollouts) on a free port,
    with one ops user and one write token."""
    db_name = None
    if request.param == "mosquitto+postgresql":
        broker = request.getfixturevalue("mosquitto_broker")
        pg = request.getfixturevalue("postgres_server")
        db_name = f"mob_ui_{uuid.uuid4().hex[:12]}"
        url = pg.create_database(db_name)
    else:
        broker = request.getfixturevalue("amqtt_broker")
        url = f"sqlite:///{tmp_path / 'ui.sqlite3'}"
    engine = make_engine(url)
    migrate(engine)
    with Session(engine) as s:
        create_user(s, username=USER, password=PASSWORD, now=utcnow())
        _, write = create_token(s, name="ops-ui-test", scope=Scope.WRITE, now=utcnow())
        s.commit()
    root = tmp_path / "ota-root.json"
    root.write_bytes(fleet.root_document)
    port = free_port()
    settings = Settings(
        db=url,
        heartbeat_timeout_factor=3.0,
        releases=str(tmp_path / "releases"),
        ota_root=str(root),
        public_url=f"http://127.0.0.1:{port}",
    )
    app = create_app(engine, settings)  # the UI finds the rollout service itself (cloud.rollouts.ui)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=3
        )
    )
    bridge = Bridge(
        engine,
        BridgeConfig(
            host=broker.host,
            port=broker.port,
            client_id=f"cloud-{uuid.uuid4().hex[:8]}",
            sweep_interval_s=0.1,
            policy=Policy(stable_s=1.0),
        ),
    )
    async with asyncio.TaskGroup() as tg:
        bridge_task = tg.create_task(bridge.run(), name="test.bridge")
        api_task = tg.create_task(server.serve(), name="test.api")
        async with asyncio.timeout(15):
            await bridge.ready.wait()
            while not server.started:  # noqa: ASYNC110  (uvicorn exposes a flag, not an event)
                await asyncio.sleep(0.05)
        try:
            yield UiStack(
                f"http://127.0.0.1:{port}",
                engine,
                broker.host,
                broker.port,
                fleet,
                {"Authorization": f"Bearer {write}"},
            )
        finally:
            server.should_exit = True
            bridge.stop()
            async with asyncio.timeout(20):
                await api_task
                await bridge_task
    engine.dispose()
    if db_name is not None:
        pg.drop_database(db_name)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    path = chromium_path()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    pg = await context.new_page()
    try:
        yield pg
    finally:
        await context.close()


async def sign_in(page: Any, stack: UiStack, target: str = "/ui/") -> None:
    """Open `target`, get sent to the login form, sign in, and land back on `target`."""
    await page.goto(stack.url(target))
    assert "/ui/login" in page.url
    await page.fill("input[name=username]", USER)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(re.escape(stack.url(target)) + r"$"))
