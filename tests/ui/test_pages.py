"""The device page and the overview over HTTP (no browser), on a real migrated SQLite database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from cloud.api.app import create_app
from cloud.auth.users import create_user
from cloud.campaigns.models import Asset, AssetKind, DeviceHistory
from cloud.core.config import Settings
from cloud.core.db import make_engine, migrate
from cloud.core.types import utcnow
from cloud.registry.models import Device, HeartbeatSample

PASSWORD = "s3cret-enough"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """A signed-in ops browser over a migrated database; `client.engine` to seed it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ui.sqlite3'}")
    migrate(engine)
    with Session(engine) as s:
        create_user(s, username="ops", password=PASSWORD, now=utcnow())
        s.commit()
    with TestClient(create_app(engine, Settings())) as c:
        form = c.get("/ui/login").text
        token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        r = c.post("/ui/login", data={"username": "ops", "password": PASSWORD, "csrf": token})
        assert r.status_code == 200
        c.engine = engine  # type: ignore[attr-defined]
        yield c
    engine.dispose()


def _chart(html: str, label: str) -> str:
    m = re.search(rf'<svg[^>]*aria-label="{re.escape(label)}".*?</svg>', html, re.S)
    assert m, f"no chart {label!r}"
    return m.group(0)


def _points(svg: str) -> int:
    m = re.search(r'<polyline points="([^"]*)" data-points="(\d+)"', svg)
    if m is None:
        return 0
    assert len(m.group(1).split()) == int(m.group(2))
    return int(m.group(2))


def test_device_page_draws_heartbeat_lag_and_health_over_the_last_day(client: TestClient) -> None:
    now = utcnow()
    with Session(client.engine) as s:  # type: ignore[attr-defined]
        s.add(Device(id="rpi-7", hardware="rpi", status="online", created_at=now - timedelta(days=3)))
        s.flush()
        for i, hours_ago in enumerate([30, 25, 20, 12, 6, 2, 0.1]):  # two before the 24 h window
            at = now - timedelta(hours=hours_ago)
            s.add(
                HeartbeatSample(
                    device_id="rpi-7",
                    received_at=at,
                    device_ts=at - timedelta(seconds=1 + i),
                    lag_s=1.0 + i,
                    uptime_s=3600 * i,
                    rssi=-60 - i,
                    free_mem=400 * 2**20,
                    free_disk=None if i % 2 else 8 * 2**30,  # the last five: i = 2, 4, 6 report disk
                    outbox=i,
                    dropped=0,
                    temp_dc=-50 + 20 * i,
                    load_x100=25 * i,
                )
            )
        s.commit()
    html = client.get("/ui/devices/rpi-7").text
    assert "5 received" in html
    lag = _chart(html, "heartbeat lag (received − device clock)")
    assert _points(lag) == 5
    assert ">6<" in lag or ">10<" in lag  # a round maximum over the largest lag in the window (7 s)
    rssi = _chart(html, "uplink RSSI")
    assert _points(rssi) == 5
    assert ">-100<" in rssi  # a negative axis, not points drawn below the chart
    assert ">0<" in rssi
    assert _points(_chart(html, "free memory")) == 5
    assert "(MiB)" in _chart(html, "free memory")
    assert _points(_chart(html, "free disk")) == 3
    assert "(GiB)" in _chart(html, "free disk")
    for label in ("outbox depth", "temperature", "load"):
        assert _points(_chart(html, label)) == 5, label


def test_a_device_without_heartbeats_says_so(client: TestClient) -> None:
    with Session(client.engine) as s:  # type: ignore[attr-defined]
        s.add(Device(id="esp-0", hardware="esp32", created_at=utcnow()))
        s.commit()
    html = client.get("/ui/devices/esp-0").text
    assert "0 received" in html
    assert _chart(html, "uplink RSSI").count("no data yet") == 1


def _fleet_on_assets(session: Session) -> None:
    """bus-1 carries a, b and c (moved off truck-2); d left truck-2; e is booked for tomorrow."""
    now = utcnow()
    day = timedelta(days=1)
    for asset_id, name in (("truck-2", "Truck two"), ("bus-1", "Bus one")):
        session.add(Asset(id=asset_id, name=name, kind=AssetKind.VEHICLE, created_at=now - 9 * day))
    for device_id in "abcde":
        # A stale `asset` label must not count: the mount is the truth now.
        session.add(Device(id=f"dev-{device_id}", status="online", labels={"asset": "truck-9"}))
    session.flush()
    for device_id, asset_id, start, end in (
        ("dev-a", "bus-1", now - 5 * day, None),
        ("dev-b", "bus-1", now - 2 * day, None),
        ("dev-c", "truck-2", now - 8 * day, now - 3 * day),
        ("dev-c", "bus-1", now - 3 * day, None),
        ("dev-d", "truck-2", now - 8 * day, now - day),
        ("dev-e", "truck-2", now + day, None),  # booked for tomorrow: not on it yet
    ):
        session.add(DeviceHistory(device_id=device_id, asset_id=asset_id, mounted_at=start, unmounted_at=end))
    session.commit()


def test_overview_counts_devices_by_the_asset_they_are_mounted_on_now(client: TestClient) -> None:
    with Session(client.engine) as s:  # type: ignore[attr-defined]
        _fleet_on_assets(s)
    html = client.get("/ui/").text
    table = html[html.index("By asset") :]
    rows = re.findall(r'<td class="key">(.*?)</td>\s*<td class="num">(\d+)</td>', table, re.S)
    assert rows[:2] == [
        ('<a href="/ui/devices?asset=bus-1">Bus one</a>', "3"),
        ('<span class="muted">not mounted</span>', "2"),
    ]
    assert "truck-9" not in html
    assert "Truck two" not in table  # nothing is on it now


def test_device_list_filters_by_current_asset_and_names_it(client: TestClient) -> None:
    with Session(client.engine) as s:  # type: ignore[attr-defined]
        _fleet_on_assets(s)
    html = client.get("/ui/devices?asset=bus-1&per_page=5&page=1").text
    assert "3 match" in html
    assert re.findall(r'data-row-device="([^"]+)"', html) == ["dev-a", "dev-b", "dev-c"]
    assert html.count(">Bus one</a>") == 3
    assert '<option value="bus-1" selected>Bus one</option>' in html
    assert 'value="truck-2"' not in html  # only assets carrying a sensor now are offered
    html = client.get("/ui/devices?asset=truck-2").text
    assert "0 match" in html
    assert "not mounted on an asset" in client.get("/ui/devices/dev-d").text
    assert ">Bus one</a>" in client.get("/ui/devices/dev-c").text
