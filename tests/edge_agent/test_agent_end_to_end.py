"""The agent as a real subprocess against real Mosquitto: replay fidelity, exactly-once delivery
through broker restarts and agent SIGKILLs, cloud config, clean shutdown."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

import pytest

from edge_agent.observations import Observer
from edge_agent.privacy import Keyring
from edge_agent.sources.pcapfile import read_capture
from edge_agent.sources.wifi import parse_probe
from protocol import codec, topics
from tests.edge_agent.agent_harness import (
    FLEET_KEY_HEX,
    AgentProcess,
    Recorder,
    outbox_state,
    until,
    write_config,
)

pytestmark = pytest.mark.mosquitto


def device() -> str:
    return f"rpi-e2e-{uuid.uuid4().hex[:8]}"


async def test_pcap_replay_through_the_broker_equals_a_direct_parse(
    mosquitto_broker, brno: Path, tmp_path: Path
) -> None:
    dev = device()
    pcap = brno / "2022-11-24.pcap"
    config = write_config(
        tmp_path / "agent.toml", dev, tmp_path / "data", mosquitto_broker.port,
        {"tunables": {"rssi_floor": -127, "batch_size": 50, "batch_max_age_s": 1},
         "sources.pcap": {"path": str(pcap)}},
    )  # fmt: skip
    observer = Observer(Keyring(bytes.fromhex(FLEET_KEY_HEX)), rssi_floor=-127)
    expected = sorted(
        (o.ts_ms, o.kind.value, o.hid, o.rssi, o.flags, None, None)
        for f in read_capture(pcap)
        if (o := observer.observe(parse_probe(f).sighting())) is not None
    )
    recorder = Recorder(mosquitto_broker.host, mosquitto_broker.port, dev)
    agent = AgentProcess(config, tmp_path / "agent.log")
    async with asyncio.TaskGroup() as tg:
        rec = tg.create_task(recorder.run(), name="recorder")
        await asyncio.wait_for(recorder.connected.wait(), 5)
        agent.start()
        try:
            await until(lambda: len(recorder.observations()) >= len(expected), 30, "all observations")
        finally:
            agent.stop()
        rec.cancel()
    assert sorted(recorder.observations()) == expected
    assert all(len(copies[0].body["obs"]) <= 50 for copies in recorder.telemetry.values())


async def test_every_batch_arrives_exactly_once_through_broker_restarts_and_sigkill(
    mosquitto_broker, tmp_path: Path
) -> None:
    dev = device()
    data = tmp_path / "data"
    config = write_config(
        tmp_path / "agent.toml", dev, data, mosquitto_broker.port,
        {"tunables": {"batch_size": 20, "batch_max_age_s": 1, "heartbeat_s": 5},
         "sources.simulate": {"seed": 5, "speed": 60.0, "duration_s": 600, "arrivals_per_min": 40}},
    )  # fmt: skip
    recorder = Recorder(mosquitto_broker.host, mosquitto_broker.port, dev)
    agent = AgentProcess(config, tmp_path / "agent.log")
    async with asyncio.TaskGroup() as tg:
        rec = tg.create_task(recorder.run(), name="recorder")
        await asyncio.wait_for(recorder.connected.wait(), 5)
        try:
            agent.start()
            await until(lambda: len(recorder.telemetry) >= 5, 20, "first batches")
            mosquitto_broker.stop()  # the link drops mid-stream; the agent keeps storing
            await asyncio.sleep(2.0)
            mosquitto_broker.start()
            await until(lambda: len(recorder.telemetry) >= 30, 30, "batches after the broker came back")
            first_boot = recorder.of_type("hello")[-1].boot
            assert agent.signal(signal.SIGKILL) == -signal.SIGKILL  # a power cut, as far as it knows
            agent.start()
            await until(lambda: len({m.boot for m in recorder.of_type("hello")}) == 2, 20, "second boot")
            mosquitto_broker.restart()
            # The second run's simulation ends after 10 s; then the outbox must drain completely.
            await asyncio.sleep(10)

            def drained() -> bool:
                state = outbox_state(data)
                return state["depth"] == 0 and len(recorder.telemetry) == state["stored"]

            await until(drained, 40, "outbox drained and every batch received")
            assert agent.signal(signal.SIGTERM) == 0
            await until(lambda: recorder.of_type("status")[-1].body["state"] == "offline", 5, "offline")
        finally:
            agent.stop()
        rec.cancel()
    state = outbox_state(data)
    received = set(recorder.telemetry)
    # Every stored batch arrived, none extra; SIGTERM stored the open batch, which waits for the next start.
    assert not received & state["pending"]
    assert len(received | state["pending"]) == state["stored"]
    assert state["depth"] <= 1
    boots = {boot for boot, _ in received}
    assert len(boots) == 2
    for boot in boots:  # each boot's batch numbers are contiguous from 0: the cloud sees no gap
        numbers = {n for b, n in received | state["pending"] if b == boot}
        assert numbers == set(range(len(numbers)))
    for copies in recorder.telemetry.values():  # duplicates are the same message, never a reuse
        assert len({(m.seq, codec.encode(m)) for m in copies}) == 1
    assert state["dropped_obs"] == 0
    assert recorder.of_type("heartbeat")[-1].body["dropped"] == 0
    statuses = recorder.of_type("status")
    assert any(
        m.boot == first_boot and m.body == {"state": "offline", "reason": "connection_lost"} for m in statuses
    )
    assert statuses[-1].body == {"state": "offline", "reason": "shutdown"}
    hellos = recorder.of_type("hello")
    assert {m.boot for m in hellos} == boots
    assert hellos[-1].body["reset"] == "crash"  # the second run follows a SIGKILL


async def test_cloud_config_is_applied_or_rejected_and_reported(mosquitto_broker, tmp_path: Path) -> None:
    import aiomqtt

    dev = device()
    config = write_config(
        tmp_path / "agent.toml", dev, tmp_path / "data", mosquitto_broker.port,
        {"tunables": {"heartbeat_s": 60}, "sources.simulate": {"speed": 1.0}},
    )  # fmt: skip
    recorder = Recorder(mosquitto_broker.host, mosquitto_broker.port, dev)
    agent = AgentProcess(config, tmp_path / "agent.log")

    def desired(version: int, settings: dict, seq: int) -> bytes:
        return codec.encode(
            codec.make("config_desired", dev, "c10d0001", seq, 1, {"version": version, "config": settings})
        )

    async with (
        asyncio.TaskGroup() as tg,
        aiomqtt.Client(mosquitto_broker.host, mosquitto_broker.port) as cloud,
    ):
        rec = tg.create_task(recorder.run(), name="recorder")
        await asyncio.wait_for(recorder.connected.wait(), 5)
        # Retained before the agent starts: it must pick it up on subscribe.
        await cloud.publish(
            topics.topic(dev, topics.CONFIG_DESIRED),
            desired(2, {"heartbeat_s": 5, "rssi_floor": -80}, 0),
            qos=1,
            retain=True,
        )
        agent.start()
        try:
            await until(lambda: recorder.of_type("config_reported"), 15, "first report")
            ok = recorder.of_type("config_reported")[0].body
            assert ok["version"] == 2
            assert "error" not in ok
            assert (ok["config"]["heartbeat_s"], ok["config"]["rssi_floor"]) == (5, -80)
            await until(
                lambda: any(m.body["interval_s"] == 5 for m in recorder.of_type("heartbeat")),
                15,
                "new interval",
            )
            await cloud.publish(
                topics.topic(dev, topics.CONFIG_DESIRED), desired(3, {"rssi_floor": 5}, 1), qos=1, retain=True
            )
            await until(lambda: len(recorder.of_type("config_reported")) >= 2, 10, "second report")
            bad = recorder.of_type("config_reported")[1].body
            assert bad["version"] == 3
            assert bad["error"]["code"] == "invalid_config"
            assert "rssi_floor" in bad["error"]["reason"]
            assert bad["config"]["rssi_floor"] == -80  # the previous config stays
            await cloud.publish(
                topics.topic(dev, topics.CMD),
                codec.encode(codec.make("cmd", dev, "c10d0001", 2, 1, {"id": "c-1", "name": "reboot"})),
                qos=1,
            )
            await until(lambda: recorder.of_type("cmd_reply"), 10, "cmd reply")
            assert recorder.of_type("cmd_reply")[0].body == {"id": "c-1", "status": "unsupported"}
            hb = recorder.of_type("heartbeat")[-1].body
            assert hb["config_version"] == 2
            assert hb["gps_fix"] == 1  # the simulation's GPS
            assert agent.signal(signal.SIGTERM) == 0
            agent.start()  # a restart after a clean stop says so in its hello
            await until(lambda: len(recorder.of_type("hello")) == 2, 15, "second hello")
            assert [m.body["reset"] for m in recorder.of_type("hello")] == ["crash", "clean"]
        finally:
            agent.stop()
            await cloud.publish(topics.topic(dev, topics.CONFIG_DESIRED), b"", qos=1, retain=True)
        rec.cancel()
