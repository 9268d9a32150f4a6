"""Rollouts end to end: the API creates a deployment, the bridge offers it over MQTT wave by wave,
simulated devices answer over the real broker, and the jobs and deployment end in the right state.

Each test runs on Mosquitto + PostgreSQL and on amqtt + SQLite (the `cloud` fixture).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import aiomqtt
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from cloud.api.app import create_app
from cloud.core.config import Settings
from cloud.registry.models import Device as RegistryDevice
from cloud.rollouts.models import Deployment, Job
from protocol import topics
from tests.cloud.conftest import Cloud
from tests.rollouts.conftest import Fleet
from tests.rollouts.devices import OtaDevice

ARTIFACT = os.urandom(4096)


@pytest.fixture
def ops(cloud: Cloud, settings: Settings) -> Iterator[tuple[TestClient, dict]]:
    from cloud.auth.models import Scope
    from cloud.auth.service import create_token
    from cloud.core.types import utcnow

    with Session(cloud.engine) as s:
        _, write = create_token(s, name="ops", scope=Scope.WRITE, now=utcnow())
        s.commit()
    with TestClient(create_app(cloud.engine, settings)) as client:
        yield client, {"Authorization": f"Bearer {write}"}


def _release(api: TestClient, h: dict, fleet: Fleet, version: int = 2) -> int:
    rid = api.post("/releases", content=fleet.release(ARTIFACT, version=version), headers=h).json()["id"]
    assert api.put(f"/releases/{rid}/artifact", content=ARTIFACT, headers=h).status_code == 200
    return rid


@asynccontextmanager
async def _fleet(cloud: Cloud, devices: list[OtaDevice]) -> AsyncIterator[None]:
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(d.run(cloud.host, cloud.port), name=f"device.{d.device_id}") for d in devices]
        await cloud.wait_for(
            lambda s: all(
                (r := s.get(RegistryDevice, d.device_id))
                and r.firmware_version == d.fw
                and r.hardware == "esp32"
                for d in devices
            )
        )
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()


def _jobs(s: Session, deployment_id: int) -> dict[str, Job]:
    return {j.device_id: j for j in s.exec(select(Job).where(Job.deployment_id == deployment_id)).all()}


async def _retained_offers(cloud: Cloud, device_ids: list[str]) -> dict[str, bytes]:
    """What a device connecting now would find retained on its ota/offer topic."""
    found: dict[str, bytes] = {}
    async with aiomqtt.Client(cloud.host, cloud.port, identifier=f"probe-{os.urandom(3).hex()}") as c:
        for d in device_ids:
            await c.subscribe(topics.topic(d, topics.OTA_OFFER), qos=1)
        try:
            async with asyncio.timeout(1.0):
                async for m in c.messages:
                    # amqtt 0.12 also replays other retained topics of the device here: keep offers only.
                    if str(m.topic).endswith("/" + topics.OTA_OFFER) and m.payload:
                        found[str(m.topic).split("/")[2]] = bytes(m.payload)
        except TimeoutError:
            pass
    return found


async def _offers_withdrawn(cloud: Cloud, device_ids: list[str], within_s: float = 10.0) -> dict[str, bytes]:
    """The retained offers left once the cloud's offer outbox has had `within_s` to withdraw them
    (withdrawal is published by the sweeper after the job ends, not in the same transaction)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    for _ in range(int(within_s / 0.2) + 1):  # bounded polling: the offer outbox has no event to await
        left = await _retained_offers(cloud, device_ids)
        if not left or loop.time() >= deadline:
            return left
        await asyncio.sleep(0.2)
    return left


async def test_waves_commit_only_after_the_new_boot_heartbeats_and_sends_telemetry(
    cloud: Cloud, ops: tuple[TestClient, dict], fleet: Fleet
) -> None:
    api, h = ops
    tag = os.urandom(2).hex()
    devices = [OtaDevice(f"ok-{tag}-{i}") for i in range(4)]
    async with _fleet(cloud, devices):
        rid = _release(api, h, fleet)
        r = api.post(
            "/deployments",
            json={"name": "v2", "release_id": rid, "waves": [25, 100], "soak_s": 0, "job_deadline_s": 30},
            headers=h,
        )
        assert r.status_code == 201, r.text
        dep = r.json()
        assert [w["size"] for w in dep["wave_summary"]] == [1, 3]
        done = await cloud.wait_for(
            lambda s: (d := s.get(Deployment, dep["id"])) and d.state == "completed" and d, within=30
        )
        assert done.state_reason == "all 2 waves succeeded"
    with Session(cloud.engine) as s:
        jobs = _jobs(s, dep["id"])
        assert {j.state for j in jobs.values()} == {"succeeded"}
    any_device = devices[0].device_id
    history = api.get(f"/deployments/{dep['id']}/jobs/{any_device}", headers=h).json()["history"]
    states = [e["state"] for e in history]
    assert states[:2] == ["queued", "queued"]  # created, then offered in its wave
    assert states[-3:] == ["rebooting", "confirming", "succeeded"]
    assert "committed" in history[-1]["reason"]
    assert all(len(d.offers) == 1 for d in devices)
    # Every ended job's retained offer was withdrawn.
    assert await _offers_withdrawn(cloud, [d.device_id for d in devices]) == {}


async def test_a_failing_wave_halts_and_no_device_beyond_it_is_touched(
    cloud: Cloud, ops: tuple[TestClient, dict], fleet: Fleet
) -> None:
    api, h = ops
    tag = os.urandom(2).hex()
    devices = [OtaDevice(f"halt-{tag}-{i}") for i in range(10)]
    async with _fleet(cloud, devices):
        rid = _release(api, h, fleet)
        # Which devices fall in wave 0 is decided at creation; make all of them misbehave.
        for d in devices:
            d.behaviour = "rollback" if int(d.device_id[-1]) % 2 else "fail"
        dep = api.post(
            "/deployments",
            json={"name": "bad", "release_id": rid, "waves": [20, 100], "soak_s": 0, "max_failure_rate": 0.1},
            headers=h,
        ).json()
        halted = await cloud.wait_for(
            lambda s: (d := s.get(Deployment, dep["id"])) and d.state == "halted" and d, within=20
        )
        assert "failure rate" in (halted.state_reason or "")
        assert halted.evidence["wave"]["wave"] == 0
        await asyncio.sleep(0.5)  # give the sweeper a chance to (wrongly) go on
    with Session(cloud.engine) as s:
        jobs = _jobs(s, dep["id"])
    wave0 = {i for i, j in jobs.items() if j.wave == 0}
    assert len(wave0) == 2
    assert {jobs[i].state for i in wave0} <= {"failed", "rolled-back"}
    for i, j in jobs.items():
        if i not in wave0:
            assert (j.state, j.offer_state, j.offered_at) == ("queued", "none", None)
    touched = {d.device_id for d in devices if d.offers}
    assert touched <= wave0
    rolled = [i for i in wave0 if jobs[i].state == "rolled-back"]
    for i in rolled:
        assert "self-test failed" in (jobs[i].reason or "") or "again after the update" in (
            jobs[i].reason or ""
        )
    assert await _offers_withdrawn(cloud, [d.device_id for d in devices]) == {}


async def test_claimed_success_without_a_new_boot_is_not_success_and_silence_fails(
    cloud: Cloud, ops: tuple[TestClient, dict], fleet: Fleet
) -> None:
    api, h = ops
    tag = os.urandom(2).hex()
    liar, mute = OtaDevice(f"claim-{tag}", behaviour="claim"), OtaDevice(f"mute-{tag}", behaviour="silent")
    async with _fleet(cloud, [liar, mute]):
        rid = _release(api, h, fleet)
        dep = api.post(
            "/deployments",
            json={
                "name": "x",
                "release_id": rid,
                "waves": [100],
                "soak_s": 0,
                "job_deadline_s": 2,
                "max_failure_rate": 1.0,
                "success_threshold": 0.0,
            },
            headers=h,
        ).json()
        await cloud.wait_for(lambda s: _jobs(s, dep["id"])[liar.device_id].state == "confirming")
        jobs = await cloud.wait_for(
            lambda s: (j := _jobs(s, dep["id"])) and all(x.state == "failed" for x in j.values()) and j,
            within=15,
        )
    assert jobs[mute.device_id].reason == "silent past the job deadline"
    assert jobs[liar.device_id].reason == "silent past the job deadline"  # never committed


async def test_a_new_boot_heard_from_but_never_confirmed_by_the_device_is_not_success(
    cloud: Cloud, ops: tuple[TestClient, dict], fleet: Fleet
) -> None:
    api, h = ops
    cut = OtaDevice(f"cut-{os.urandom(2).hex()}", behaviour="unconfirmed")
    async with _fleet(cloud, [cut]):
        rid = _release(api, h, fleet)
        dep = api.post(
            "/deployments",
            json={"name": "y", "release_id": rid, "waves": [100], "soak_s": 0, "job_deadline_s": 30},
            headers=h,
        ).json()
        job = await cloud.wait_for(
            lambda s: (j := _jobs(s, dep["id"])[cut.device_id]).state in ("succeeded", "rolled-back") and j,
            within=15,
        )
    assert (job.state, job.reason) == ("rolled-back", "booted version 1 again after the update")
