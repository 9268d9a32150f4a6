"""The whole control plane in one process: broker (embedded or external), bridge, API, demo fleet.

One supervising TaskGroup owns every task. SIGINT/SIGTERM set `stop`: the API stops accepting, the
bridge writes and acknowledges what it holds and disconnects, then the broker and engine close.
Nothing acknowledged is ever uncommitted, so even SIGKILL loses no acknowledged batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
import uvicorn
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.api.app import create_app
from cloud.bridge.service import Bridge, BridgeConfig
from cloud.broker.embedded import embedded_broker
from cloud.broker.ports import is_port_free
from cloud.core.config import Settings
from cloud.core.db import make_engine, migrate
from cloud.core.types import utcnow
from cloud.demo.fleet import run_fleet
from cloud.exceptions import PortInUseError
from cloud.identity.directory import IdentityDir
from cloud.identity.service import Identity, refresh_broker

log = structlog.get_logger("cloud.stack")


def load_identity(settings: Settings, engine: Engine) -> Identity | None:
    """The fleet identity from ``settings.identity_dir`` (None: enrollment off), with the broker's CRL
    and password file brought up to date with the database before anything connects."""
    if not settings.identity_dir:
        return None
    reload = None
    if settings.broker_reload:
        argv = shlex.split(settings.broker_reload)

        def reload() -> None:
            r = subprocess.run(argv, capture_output=True, timeout=30)
            if r.returncode != 0:
                log.error("broker.reload_failed", argv=argv, code=r.returncode, output=r.stderr[-500:])

    identity = IdentityDir(Path(settings.identity_dir)).load(
        broker=settings.broker_for_devices, reload=reload
    )
    with Session(engine) as session:
        refresh_broker(session, identity, now=utcnow())
    return identity


@contextlib.asynccontextmanager
async def _broker(settings: Settings) -> AsyncIterator[None]:
    if settings.embedded_broker:
        async with embedded_broker(settings.mqtt_host, settings.mqtt_port, flag="--mqtt-port"):
            yield
    else:
        yield


async def run_stack(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    if not is_port_free(settings.api_host, settings.api_port):
        raise PortInUseError(what="the API", host=settings.api_host, port=settings.api_port, flag="--port")
    engine = make_engine(settings.db)
    await asyncio.to_thread(migrate, engine)
    host, port, _tls = settings.broker_host_port
    identity = await asyncio.to_thread(load_identity, settings, engine)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(engine, settings, identity),
            host=settings.api_host,
            port=settings.api_port,
            log_level="warning",
            lifespan="off",
        )
    )
    # uvicorn would install its own signal handlers; the stack owns shutdown instead.
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with _broker(settings):
            bridge = Bridge(engine, BridgeConfig.from_settings(settings))
            async with asyncio.TaskGroup() as tg:
                bridge_task = tg.create_task(bridge.run(), name="bridge")
                api = tg.create_task(server.serve(), name="api")
                await bridge.ready.wait()
                fleet = None
                if settings.simulate:
                    fleet = tg.create_task(run_fleet(settings.simulate, host, port), name="fleet")
                log.info(
                    "stack.up",
                    api=f"http://{settings.api_host}:{settings.api_port}",
                    broker=f"{host}:{port}",
                    db=settings.db.split("@")[-1],
                    simulated_devices=settings.simulate,
                    open_reads=settings.reads_open,
                )
                await stop.wait()
                log.info("stack.stopping")
                if fleet is not None:
                    fleet.cancel()
                server.should_exit = True
                bridge.stop()
                await bridge_task
                await api
            log.info("stack.stopped")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        engine.dispose()
