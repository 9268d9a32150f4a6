"""BlueZoo pages -> observations of `third-party` devices, each record once.

Per page, in one transaction: unknown sensors become devices (`hardware = third-party`, state
active, id = prefix + sensor id), each sensor's sightings become one telemetry batch
(`boot = "bluezoo"`, batch = the sensor's next number) written by the same exactly-once ingest
as our own sensors (cloud/ingest/store.py), and the cursor moves to the page's `next_cursor`.
A crash or a failed fetch before COMMIT leaves the cursor where it was: the page is fetched and
imported again, whole, once. Attribution to assets is DeviceHistory's, as for any sensor: mount
a BlueZoo device on an asset and its observations count for that asset's campaigns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.bluezoo import format as fmt
from cloud.bluezoo.client import BlueZooClient
from cloud.bluezoo.config import BlueZooSettings
from cloud.bluezoo.exceptions import BlueZooError
from cloud.bluezoo.models import BlueZooCursor, BlueZooSensor
from cloud.core.types import utcnow
from cloud.ingest.rows import ObsRow
from cloud.ingest.store import Batch, ingest
from cloud.registry.models import Device, DeviceState, HardwareKind

log = structlog.get_logger("cloud.bluezoo")
BOOT = "bluezoo"


@dataclass(slots=True)
class ImportRun:
    pages: int = 0
    imported: int = 0
    rejected: int = 0
    new_devices: list[str] = field(default_factory=list)


def _sensor(
    session: Session, settings: BlueZooSettings, sensor_id: str, now: datetime, run: ImportRun
) -> BlueZooSensor:
    row = session.get(BlueZooSensor, sensor_id, with_for_update=True)
    if row is not None:
        return row
    device_id = f"{settings.bluezoo_device_prefix}{sensor_id}"[:64]
    if session.get(Device, device_id) is None:
        session.add(
            Device(
                id=device_id,
                hardware=HardwareKind.THIRD_PARTY,
                state=DeviceState.ACTIVE,
                serial=sensor_id[:64],
                tenant=settings.bluezoo_tenant,
                labels={"source": "bluezoo"},
                created_at=now,
            )
        )
        session.flush()  # the device row first: bluezoo_sensor refers to it
        run.new_devices.append(device_id)
    row = BlueZooSensor(sensor_id=sensor_id, device_id=device_id, next_batch=0)
    session.add(row)
    session.flush()
    return row


def store_page(
    engine: Engine,
    settings: BlueZooSettings,
    page: fmt.Page,
    *,
    cursor_before: str | None,
    now: datetime,
    run: ImportRun,
) -> None:
    key = settings.bluezoo_hid_key.encode()
    by_sensor: dict[str, list[fmt.Sighting]] = defaultdict(list)
    for s in page.sightings:
        by_sensor[s.sensor_id].append(s)
    with Session(engine) as session:
        cur = session.get(BlueZooCursor, settings.bluezoo_base_url, with_for_update=True)
        if cur is None:
            cur = BlueZooCursor(source=settings.bluezoo_base_url, updated_at=now)
        if cur.cursor != cursor_before:  # another replica imported this page meanwhile
            return
        batches = []
        for sensor_id in sorted(by_sensor):
            rows = sorted(by_sensor[sensor_id], key=lambda s: (s.ts_ms, s.id))
            sensor = _sensor(session, settings, sensor_id, now, run)
            t0 = rows[0].ts_ms
            obs = [
                ObsRow(s.ts_ms - t0, s.kind, fmt.hid(key, s.device_hash), s.rssi, s.flags, s.lat_e6, s.lon_e6)
                for s in rows
            ]
            batches.append(Batch(sensor.device_id, BOOT, sensor.next_batch, sensor.next_batch, t0, obs))
            sensor.next_batch += 1
            session.add(sensor)
        session.flush()
        result = ingest(session.connection(), batches, now=now)
        cur.cursor = page.next_cursor if page.next_cursor is not None else cur.cursor
        cur.pages += 1
        cur.imported += result.observations
        cur.rejected += len(page.rejected)
        cur.updated_at = now
        session.add(cur)
        session.commit()
    run.pages += 1
    run.imported += result.observations
    run.rejected += len(page.rejected)
    for raw, why in page.rejected:
        log.warning("bluezoo.record_rejected", reason=why, record=str(raw)[:200])


async def import_new(engine: Engine, client: BlueZooClient, settings: BlueZooSettings) -> ImportRun:
    """Pull every page after the stored cursor and import it; stops when BlueZoo has no more."""
    run = ImportRun()
    while True:
        with Session(engine) as session:
            cur = session.get(BlueZooCursor, settings.bluezoo_base_url)
            cursor = cur.cursor if cur else None
        page = await client.page(cursor)
        await asyncio.to_thread(
            store_page, engine, settings, page, cursor_before=cursor, now=utcnow(), run=run
        )
        if not page.has_more:
            return run


@dataclass
class BlueZooPoller:
    """`import_new` every `bluezoo_poll_interval_s`, until `stop()`; the caller owns the task."""

    engine: Engine
    client: BlueZooClient
    settings: BlueZooSettings
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                run = await import_new(self.engine, self.client, self.settings)
                log.info("bluezoo.imported", pages=run.pages, imported=run.imported, rejected=run.rejected)
            except BlueZooError as e:  # the cursor did not move; the next tick retries
                log.error("bluezoo.import_failed", error=str(e))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), timeout=self.settings.bluezoo_poll_interval_s)

    def stop(self) -> None:
        self.stop_event.set()
