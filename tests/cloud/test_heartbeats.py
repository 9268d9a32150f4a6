"""Heartbeat samples: the bridge stores one per heartbeat in its flush; the sweeper keeps a window."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from cloud.core.types import utcnow
from cloud.registry import heartbeats
from cloud.registry.models import Device, HeartbeatSample
from tests.cloud.conftest import Cloud
from tests.cloud.devices import Device as Dev


def _samples(session: Session, device_id: str) -> list[HeartbeatSample]:
    return heartbeats.history(session, device_id, since=utcnow() - timedelta(days=1))


async def test_the_bridge_stores_a_sample_per_heartbeat_with_its_lag_and_health(cloud: Cloud) -> None:
    dev = Dev("beat-1")
    async with cloud.client("beat-1") as c:
        await c.publish(*dev.hello(heartbeat_s=1), qos=1)
        for i in range(3):
            health = {"rssi": -70 - i, "free_mem": 120_000 - i, "outbox": i, "temp_dc": 412, "load_x100": 35}
            await c.publish(*dev.heartbeat(interval_s=1, **health), qos=0)
        rows = await cloud.wait_for(lambda s: len(r := _samples(s, "beat-1")) == 3 and r)
    assert [r.rssi for r in rows] == [-70, -71, -72]
    assert [r.outbox for r in rows] == [0, 1, 2]
    assert {(r.free_disk, r.dropped, r.uptime_s, r.temp_dc, r.load_x100) for r in rows} == {
        (None, None, 10, 412, 35)
    }
    for r in rows:
        assert abs(r.lag_s - (r.received_at - r.device_ts).total_seconds()) < 1e-3
        assert 0 <= r.lag_s < 5  # same clock here: transit and flush only
    with Session(cloud.engine) as s:
        device = s.get(Device, "beat-1")
        assert device is not None
        assert device.heartbeats == 3
        assert device.health["rssi"] == -72  # the row still holds the latest


def _add(session: Session, device_id: str, ages_h: list[float]) -> None:
    now = utcnow()
    session.add(Device(id=device_id))
    session.flush()
    for age in ages_h:
        at = now - timedelta(hours=age)
        session.add(HeartbeatSample(device_id=device_id, received_at=at, device_ts=at, lag_s=0.1))
    session.commit()


def _count(session: Session, *, older_than: timedelta | None = None) -> int:
    stmt = select(func.count()).select_from(HeartbeatSample)
    if older_than is not None:
        stmt = stmt.where(col(HeartbeatSample.received_at) < utcnow() - older_than)
    return int(session.exec(stmt).one())


def test_prune_keeps_the_window_and_deletes_in_bounded_steps(engine: Engine) -> None:
    with Session(engine) as s:
        _add(s, "old-1", [200, 190, 180, 170, 169, 24, 1])  # 5 past 7 days, 2 inside
        assert heartbeats.prune(s, now=utcnow(), limit=3) == 3
        s.commit()
        assert _count(s) == 4
        assert heartbeats.prune(s, now=utcnow(), limit=3) == 2
        s.commit()
        assert heartbeats.prune(s, now=utcnow(), limit=3) == 0
        assert _count(s) == 2
        assert _count(s, older_than=timedelta(days=7)) == 0
        assert heartbeats.prune(s, now=utcnow(), keep=timedelta(hours=2)) == 1


async def test_the_running_sweeper_prunes_samples_past_the_window(cloud: Cloud) -> None:
    with Session(cloud.engine) as s:
        _add(s, "old-2", [24 * 8, 24 * 7 + 1, 12, 0.5])
    await cloud.wait_for(lambda s: _count(s) == 2)
    with Session(cloud.engine) as s:
        assert _count(s, older_than=timedelta(days=7)) == 0
