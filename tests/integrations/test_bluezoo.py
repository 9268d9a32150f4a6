"""The BlueZoo adapter against a local server of the assumed format: paging, 429s, cursor, devices."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from cloud.bluezoo.client import BlueZooClient, retry_after_s
from cloud.bluezoo.config import BlueZooSettings
from cloud.bluezoo.exceptions import BlueZooAuthError, BlueZooUnavailableError
from cloud.bluezoo.format import hid
from cloud.bluezoo.importer import import_new
from cloud.bluezoo.models import BlueZooCursor
from cloud.ingest.models import observation
from cloud.registry.models import Device
from tests.integrations.bluezoo_server import BlueZooStandIn, start

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _records(n: int, sensors: int = 3) -> list[dict[str, Any]]:
    return [
        {
            "id": f"sg_{i:06d}",
            "sensor_id": f"S-{i % sensors}",
            "seen_at": (T0 + timedelta(seconds=7 * i)).isoformat().replace("+00:00", "Z"),
            "device_hash": f"bzhash-{i % 40:04d}",
            "signal": "ble" if i % 2 else "wifi",
            "rssi": -40 - i % 50,
            "randomized": i % 5 == 0,
            "lat": 48.2 + i * 1e-5,
            "lon": 16.37,
        }
        for i in range(n)
    ]


def _pages(records: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [records[i : i + size] for i in range(0, len(records), size)]


@pytest.fixture
def bluezoo() -> Iterator[tuple[BlueZooStandIn, BlueZooSettings]]:
    state = BlueZooStandIn(pages=_pages(_records(250), 50))
    server, url = start(state)
    yield (
        state,
        BlueZooSettings(
            bluezoo_base_url=url,
            bluezoo_api_key="bz-key",
            bluezoo_page_size=50,
            bluezoo_hid_key="fleet-key",
            bluezoo_max_attempts=4,
            bluezoo_backoff_cap_s=2.0,
        ),
    )
    server.shutdown()
    server.server_close()


def _observations(engine: Engine) -> list[Any]:
    with Session(engine) as s:
        return list(s.execute(select(observation).order_by(observation.c.ts_ms)))


async def test_a_page_sequence_with_a_429_in_the_middle_imports_every_record_once(
    engine: Engine, bluezoo: tuple[BlueZooStandIn, BlueZooSettings]
) -> None:
    state, settings = bluezoo
    state.script.append((2, 429, {"Retry-After": "1"}))  # the third page is rate limited once
    async with BlueZooClient(settings) as client:
        run = await import_new(engine, client, settings)
        assert client.waits == [(429, 1.0)]  # Retry-After honoured
    assert run.pages == 5
    assert run.imported == 250
    assert run.rejected == 0
    assert [c for c, status in state.log] == [None, "c1", "c2", "c2", "c3", "c4"]
    rows = _observations(engine)
    assert len(rows) == 250
    records = _records(250)
    expected = sorted(
        (
            f"bz-{r['sensor_id']}",
            int(datetime.fromisoformat(r["seen_at"].replace("Z", "+00:00")).timestamp() * 1000),
            hid(b"fleet-key", r["device_hash"]),
            r["rssi"],
        )
        for r in records
    )
    assert sorted((r.device_id, r.ts_ms, r.hid, r.rssi) for r in rows) == expected
    assert sum(r.flags & 1 for r in rows) == 50
    assert {r.kind for r in rows} == {"w", "b"}
    with Session(engine) as s:
        devices = s.execute(select(Device).where(Device.hardware == "third-party")).scalars().all()
        assert sorted(d.id for d in devices) == ["bz-S-0", "bz-S-1", "bz-S-2"]
        assert all(d.state == "active" and d.observations > 0 for d in devices)
        assert sum(d.observations for d in devices) == 250
        cur = s.get(BlueZooCursor, settings.bluezoo_base_url)
        assert cur is not None
        assert cur.cursor == "c5"
        assert cur.imported == 250
    # The next scheduled run starts from the stored cursor: nothing is imported twice.
    state.pages.append(_records(260)[250:])
    async with BlueZooClient(settings) as client:
        run = await import_new(engine, client, settings)
    assert run.imported == 10
    assert len(_observations(engine)) == 260


async def test_failures_leave_the_cursor_and_bad_records_are_counted(
    engine: Engine, bluezoo: tuple[BlueZooStandIn, BlueZooSettings]
) -> None:
    state, settings = bluezoo
    state.pages[1][3] = {**state.pages[1][3], "rssi": "loud"}  # one bad record
    state.script += [(2, 503, {})] * 4  # page 3 is down for longer than the retry budget
    sleeps: list[float] = []

    async def fast_sleep(s: float) -> None:
        sleeps.append(s)

    async with BlueZooClient(settings, sleep=fast_sleep) as client:
        with pytest.raises(BlueZooUnavailableError) as e:
            await import_new(engine, client, settings)
    assert e.value.attempts == 4
    assert len(sleeps) == 3
    assert all(0 < s <= 2.0 for s in sleeps)
    with Session(engine) as s:
        cur = s.get(BlueZooCursor, settings.bluezoo_base_url)
        assert cur is not None
        assert cur.cursor == "c2"
        assert cur.rejected == 1
        assert s.execute(select(func.count()).select_from(observation)).scalar_one() == 99
    async with BlueZooClient(settings) as client:
        run = await import_new(engine, client, settings)
    assert run.imported == 150
    assert len(_observations(engine)) == 249
    bad = BlueZooSettings(bluezoo_base_url=settings.bluezoo_base_url, bluezoo_api_key="stolen?")
    async with BlueZooClient(bad) as client:
        with pytest.raises(BlueZooAuthError):
            await client.page(None)


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert retry_after_s("3", now=now, cap=60) == 3.0
    assert retry_after_s("Tue, 24 Nov 2026 12:00:05 GMT", now=now, cap=60) == 5.0
    assert retry_after_s("9999", now=now, cap=60) == 60
    assert retry_after_s("soon", now=now, cap=60) is None
