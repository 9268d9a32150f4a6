"""The bridge over real brokers and databases: ingest exactly once, gaps, dead letters, presence.

Each test runs on Mosquitto + PostgreSQL and on amqtt + SQLite (the `cloud` fixture), with its own
device ids, database and broker.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select
from sqlmodel import Session, col

from cloud.bridge.service import Bridge, BridgeConfig
from cloud.broker.ports import free_port
from cloud.core.db import make_engine
from cloud.core.types import utcnow
from cloud.ingest.models import DeadLetter, TelemetryGap, TelemetryStream, observation
from cloud.registry.models import Device, StatusChange
from protocol import topics
from protocol.codec import decode, encode, make
from tests.cloud.conftest import Cloud
from tests.cloud.devices import Device as Dev
from tests.cloud.devices import DeviceProcess


def _obs(session: Session, device_id: str) -> int:
    return session.execute(
        select(func.count()).select_from(observation).where(observation.c.device_id == device_id)
    ).scalar_one()


def _device(session: Session, device_id: str) -> Device | None:
    return session.get(Device, device_id)


async def test_redelivered_batches_are_stored_once(cloud: Cloud) -> None:
    dev = Dev("redeliver-1")
    first = [dev.telemetry() for _ in range(5)]
    async with cloud.client("redeliver-1") as c:
        for topic, payload in first + first[:3]:  # the same bytes again: a device resend after reconnect
            await c.publish(topic, payload, qos=1)
    await cloud.wait_for(
        lambda s: (st := s.get(TelemetryStream, ("redeliver-1", dev.boot))) and st.duplicates == 3
    )
    with Session(cloud.engine) as s:
        assert _obs(s, "redeliver-1") == 5
        stream = s.get(TelemetryStream, ("redeliver-1", dev.boot))
        assert stream is not None
        assert (stream.received, stream.max_batch) == (5, 4)
        device = _device(s, "redeliver-1")
        assert device is not None
        assert device.telemetry_batches == 5


async def test_a_gap_opens_and_closes_when_the_late_batch_arrives(cloud: Cloud) -> None:
    dev = Dev("gappy-1")
    b0, b1, b2, b3 = (dev.telemetry() for _ in range(4))
    async with cloud.client("gappy-1") as c:
        for topic, payload in (b0, b1, b3):
            await c.publish(topic, payload, qos=1)
        gap = await cloud.wait_for(
            lambda s: (
                s.exec(select(TelemetryGap).where(TelemetryGap.device_id == "gappy-1")).scalars().first()
            )
        )
        assert (gap.first_batch, gap.last_batch, gap.closed_at) == (2, 2, None)
        await c.publish(*b2, qos=1)
    closed = await cloud.wait_for(
        lambda s: (
            s.exec(
                select(TelemetryGap).where(
                    TelemetryGap.device_id == "gappy-1", col(TelemetryGap.closed_at).is_not(None)
                )
            )
            .scalars()
            .first()
        )
    )
    assert closed.first_batch == 2
    with Session(cloud.engine) as s:
        assert _obs(s, "gappy-1") == 4


async def test_a_new_boot_starts_a_new_sequence_without_a_gap(cloud: Cloud) -> None:
    old, new = Dev("reboot-1"), Dev("reboot-1")
    async with cloud.client("reboot-1") as c:
        for _ in range(3):
            await c.publish(*old.telemetry(), qos=1)
        for _ in range(2):
            await c.publish(*new.telemetry(), qos=1)
    await cloud.wait_for(lambda s: _obs(s, "reboot-1") == 5)
    with Session(cloud.engine) as s:
        assert s.exec(select(TelemetryGap).where(TelemetryGap.device_id == "reboot-1")).first() is None


async def test_a_malformed_payload_is_dead_lettered_answered_and_the_next_one_stored(cloud: Cloud) -> None:
    dev = Dev("clumsy-1")
    error_topic = topics.topic("clumsy-1", topics.ERROR)
    async with cloud.client("clumsy-1") as c:
        await c.subscribe(error_topic, qos=1)
        await c.publish(
            topics.topic("clumsy-1", topics.TELEMETRY), b'{"v": "1.0", "type": "telemetry", ', qos=1
        )
        await c.publish(topics.topic("clumsy-1", topics.TELEMETRY), b'{"v": "9.0"}', qos=1)
        await c.publish(*dev.telemetry(), qos=1)
        replies = []
        async with asyncio.timeout(10):
            async for m in c.messages:
                replies.append(decode(bytes(m.payload), str(m.topic)))
                if len(replies) == 2:
                    break
    assert [r.body["code"] for r in replies] == ["malformed_json", "unsupported_version"]
    assert replies[0].body["ref"]["topic"] == topics.topic("clumsy-1", topics.TELEMETRY)
    await cloud.wait_for(lambda s: _obs(s, "clumsy-1") == 1)
    with Session(cloud.engine) as s:
        dead = (
            s.exec(select(DeadLetter).where(DeadLetter.device_id == "clumsy-1").order_by(DeadLetter.id))
            .scalars()
            .all()
        )
        assert [d.reason for d in dead] == ["malformed_json", "unsupported_version"]
        assert dead[0].payload == b'{"v": "1.0", "type": "telemetry", '


async def test_a_device_goes_offline_within_2s_of_its_connection_dropping(cloud: Cloud) -> None:
    dev = Dev("lwt-1")
    proc = DeviceProcess(cloud.host, cloud.port, dev)
    try:
        await cloud.wait_for(lambda s: (d := _device(s, "lwt-1")) and d.status == "online")
    finally:
        dropped = time.monotonic()
        proc.kill()
    device = await cloud.wait_for(
        lambda s: (d := _device(s, "lwt-1")) and d.status == "offline" and d, within=5
    )
    assert time.monotonic() - dropped < 2.0
    assert device.status_reason == "lwt"
    with Session(cloud.engine) as s:
        reasons = [
            c.reason for c in s.exec(select(StatusChange).where(StatusChange.device_id == "lwt-1")).scalars()
        ]
    assert reasons == ["birth", "lwt"]


async def test_a_silent_device_goes_offline_after_its_heartbeat_timeout_not_before(cloud: Cloud) -> None:
    dev = Dev("quiet-1")
    async with cloud.client("quiet-1") as c:
        await c.publish(*dev.online(), qos=1)
        await c.publish(*dev.hello(heartbeat_s=1), qos=1)
        await cloud.wait_for(lambda s: (d := _device(s, "quiet-1")) and d.status == "online")
        for _ in range(3):  # late by 1.5 s each, within the 3 s grace
            await asyncio.sleep(2.5)
            await c.publish(*dev.heartbeat(interval_s=1, rssi=-70, free_mem=12345), qos=0)
        await cloud.wait_for(lambda s: (d := _device(s, "quiet-1")) and d.heartbeats == 3)
        with Session(cloud.engine) as s:
            device = _device(s, "quiet-1")
            assert device is not None
            assert device.status == "online"
            assert device.health["free_mem"] == 12345
        silent_from = time.monotonic()
        device = await cloud.wait_for(
            lambda s: (d := _device(s, "quiet-1")) and d.status == "offline" and d, within=8
        )
        assert time.monotonic() - silent_from >= 2.0
        assert device.status_reason == "timeout"


async def test_desired_config_is_published_retained_and_the_report_acknowledges_it(cloud: Cloud) -> None:
    from cloud.core.types import utcnow
    from cloud.shadow.models import ConfigShadow
    from cloud.shadow.service import set_desired

    dev = Dev("shadowed-1")
    async with cloud.client("shadowed-1") as c:
        await c.publish(*dev.hello(hw="rpi"), qos=1)
        await cloud.wait_for(lambda s: (d := _device(s, "shadowed-1")) and d.hardware == "rpi")
    with Session(cloud.engine) as s:
        device = _device(s, "shadowed-1")
        assert device is not None
        set_desired(s, device=device, config={"heartbeat_s": 30, "batch_size": 50}, now=utcnow())
        s.commit()
    await cloud.wait_for(lambda s: (sh := s.get(ConfigShadow, "shadowed-1")) and sh.published_version == 1)
    # A device connecting later still gets it: the message is retained.
    async with cloud.client("shadowed-1") as c:
        await c.subscribe(topics.topic("shadowed-1", topics.CONFIG_DESIRED), qos=1)
        async with asyncio.timeout(10):
            async for m in c.messages:
                desired = decode(bytes(m.payload), str(m.topic))
                break
        assert desired.body == {"version": 1, "config": {"heartbeat_s": 30, "batch_size": 50}}
        await c.publish(*dev.reported(1, desired.body["config"]), qos=1)
    shadow = await cloud.wait_for(
        lambda s: (sh := s.get(ConfigShadow, "shadowed-1")) and sh.reported_version == 1 and sh
    )
    assert shadow.reported == {"heartbeat_s": 30, "batch_size": 50}


def test_a_flush_decoded_while_the_database_is_away_keeps_its_batches() -> None:
    """The decode stage formats COPY data ahead without the database: with none answering it
    decodes and formats the flush all the same (the write stage retries the database)."""
    engine = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")
    body = {"batch": 3, "t0": 1_767_225_600_000, "obs": [[0, "w", "0123456789abcdef", -50, 0, None, None]]}
    payload = encode(make("telemetry", "away-0001", "a0a0a0a0", 3, 1_767_225_600_000, body))
    try:
        flush = Bridge(engine, BridgeConfig(host="127.0.0.1", port=1))._sort(
            [(topics.topic("away-0001", topics.TELEMETRY), payload)], utcnow()
        )
    finally:
        engine.dispose()
    assert [(b.device_id, b.batch, b.copy is not None) for b in flush.batches] == [("away-0001", 3, True)]
