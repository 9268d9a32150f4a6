"""The whole control plane in one process: broker (embedded or external), bridge, API, demo fleet.

One supervising TaskGroup owns every task; SIGINT/SIGTERM cancel it, and each part closes in its
own `finally`/context manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

import structlog
import uvicorn

from cloud.api.app import create_app
from cloud.bridge.service import run_bridge
from cloud.broker.embedded import embedded_broker
from cloud.broker.ports import is_port_free
from cloud.core.config import Settings
from cloud.core.db import create_schema, make_engine
from cloud.demo.fleet import run_fleet
from cloud.exceptions import PortInUseError

log = structlog.get_logger("cloud.stack")


@contextlib.asynccontextmanager
async def _broker(settings: Settings) -> AsyncIterator[None]:
    if settings.embedded_broker:
        async with embedded_broker(settings.mqtt_host, settings.mqtt_port, flag="--mqtt-port"):
            yield
    else:
        yield


async def run_stack(settings: Settings) -> None:
    if not is_port_free(settings.api_host, settings.api_port):
        raise PortInUseError(what="the API", host=settings.api_host, port=settings.api_port, flag="--port")
    engine = make_engine(settings.db)
    create_schema(engine)
    host, port, _tls = settings.broker_host_port
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(engine),
            host=settings.api_host,
            port=settings.api_port,
            log_level="warning",
            lifespan="off",
        )
    )
    # uvicorn would install its own signal handlers; the stack owns shutdown instead.
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    async with _broker(settings):
        bridge_ready = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as tg:
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                bridge = tg.create_task(run_bridge(engine, host, port, ready=bridge_ready), name="bridge")
                api = tg.create_task(server.serve(), name="api")
                await bridge_ready.wait()
                fleet = None
                if settings.simulate:
                    fleet = tg.create_task(run_fleet(settings.simulate, host, port), name="fleet")
                log.info(
                    "stack.up",
                    api=f"http://{settings.api_host}:{settings.api_port}",
                    broker=f"{host}:{port}",
                    db=settings.db,
                    simulated_devices=settings.simulate,
                )
                await stop.wait()
                log.info("stack.stopping")
                server.should_exit = True
                for task in (fleet, bridge):
                    if task is not None:
                        task.cancel()
                await api
        finally:
            engine.dispose()
