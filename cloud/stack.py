"""The whole control plane in one process: broker (embedded or external), bridge, API, demo fleet.

One supervising TaskGroup owns every task. SIGINT/SIGTERM set `stop`: the API stops accepting, the
bridge writes and acknowledges what it holds and disconnects, the scheduled jobs finish their tick
and stop, then the broker and engine close.

Scheduled jobs, each a named task when configured (settings from the environment):
    exports   the partner export schedule, when MOBILYTICS_EXPORT_SCHEDULE_INTERVAL_S > 0
    bluezoo   the BlueZoo poller, when MOBILYTICS_BLUEZOO_API_KEY is set
Nothing acknowledged is ever uncommitted, so even SIGKILL loses no acknowledged batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import structlog
import uvicorn
from sqlalchemy import Engine

from cloud.api.app import create_app
from cloud.bluezoo.client import BlueZooClient
from cloud.bluezoo.config import BlueZooSettings
from cloud.bluezoo.importer import BlueZooPoller
from cloud.bridge.service import Bridge, BridgeConfig
from cloud.broker.embedded import embedded_broker
from cloud.broker.ports import is_port_free
from cloud.core.config import Settings
from cloud.core.db import make_engine, migrate
from cloud.demo.fleet import run_fleet
from cloud.exceptions import PortInUseError
from cloud.exports.config import ExportSettings
from cloud.exports.s3 import ObjectStore
from cloud.exports.schedule import ExportSchedule
from cloud.exports.sources import AnalyticsSource

log = structlog.get_logger("cloud.stack")


@contextlib.asynccontextmanager
async def _broker(settings: Settings) -> AsyncIterator[None]:
    if settings.embedded_broker:
        async with embedded_broker(settings.mqtt_host, settings.mqtt_port, flag="--mqtt-port"):
            yield
    else:
        yield


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    name: str
    run: Callable[[], Awaitable[None]]
    stop: Callable[[], None]


@contextlib.asynccontextmanager
async def scheduled_jobs(
    engine: Engine, *, exports: ExportSettings, bluezoo: BlueZooSettings
) -> AsyncIterator[list[ScheduledJob]]:
    """The configured scheduled jobs, their clients open for as long as the context lasts."""
    jobs: list[ScheduledJob] = []
    async with contextlib.AsyncExitStack() as stack:
        if exports.export_schedule_interval_s > 0:
            schedule = ExportSchedule(
                engine,
                ObjectStore.from_settings(exports),
                exports,
                AnalyticsSource(),
                interval_s=exports.export_schedule_interval_s,
            )
            jobs.append(ScheduledJob("exports", schedule.run, schedule.stop))
        if bluezoo.bluezoo_api_key:
            client = await stack.enter_async_context(BlueZooClient(bluezoo))
            poller = BlueZooPoller(engine, client, bluezoo)
            jobs.append(ScheduledJob("bluezoo", poller.run, poller.stop))
        yield jobs


async def run_stack(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    if not is_port_free(settings.api_host, settings.api_port):
        raise PortInUseError(what="the API", host=settings.api_host, port=settings.api_port, flag="--port")
    engine = make_engine(settings.db)
    await asyncio.to_thread(migrate, engine)
    host, port, _tls = settings.broker_host_port
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(engine, settings),
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
        async with (
            _broker(settings),
            scheduled_jobs(
                engine, exports=ExportSettings.from_env(), bluezoo=BlueZooSettings.from_env()
            ) as jobs,
        ):
            bridge = Bridge(engine, BridgeConfig.from_settings(settings))
            async with asyncio.TaskGroup() as tg:
                bridge_task = tg.create_task(bridge.run(), name="bridge")
                api = tg.create_task(server.serve(), name="api")
                await bridge.ready.wait()
                scheduled = [tg.create_task(job.run(), name=job.name) for job in jobs]
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
                    scheduled=[job.name for job in jobs],
                )
                await stop.wait()
                log.info("stack.stopping")
                if fleet is not None:
                    fleet.cancel()
                server.should_exit = True
                bridge.stop()
                for job in jobs:
                    job.stop()
                await bridge_task
                await api
                for task in scheduled:
                    await task
            log.info("stack.stopped")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        engine.dispose()
