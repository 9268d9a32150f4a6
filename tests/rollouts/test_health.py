"""Health-based halting on SQLite and PostgreSQL: after a wave succeeds it soaks; if its devices do
worse than the ones still on the old version (here: they keep rebooting and dropping off), the
rollout pauses with the evidence served by the API, and ops can resume accepting it."""

from __future__ import annotations

import os
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlmodel import Session, select

from cloud.core.types import utcnow
from cloud.ingest.models import TelemetryStream
from cloud.registry.models import Device, StatusChange
from cloud.rollouts import service
from cloud.rollouts.models import Deployment, Job
from tests.rollouts.conftest import Fleet

ARTIFACT = os.urandom(1024)


def test_a_wave_that_reboots_more_than_the_old_version_pauses_with_evidence(
    engine: Engine, api: TestClient, tokens: dict, fleet: Fleet
) -> None:
    now = utcnow()
    with Session(engine) as s:
        for i in range(20):
            s.add(Device(id=f"hd-{i:02d}", hardware="esp32", firmware_version="1", created_at=now))
        s.commit()
    rid = api.post("/releases", content=fleet.release(ARTIFACT), headers=tokens["write"]).json()["id"]
    api.put(f"/releases/{rid}/artifact", content=ARTIFACT, headers=tokens["write"])
    dep = api.post(
        "/deployments",
        json={"name": "soak", "release_id": rid, "waves": [10, 100], "soak_s": 60},
        headers=tokens["write"],
    ).json()
    with Session(engine) as s:
        s.execute(update(Job).where(Job.deployment_id == dep["id"], Job.wave == 0).values(state="succeeded"))
        d = service.get(s, dep["id"], lock=True)
        assert [type(a).__name__ for a in service.tick(s, d, now)] == ["StartSoak"]
        s.commit()
    t = now + timedelta(seconds=5)
    with Session(engine) as s:
        wave0 = [
            j.device_id for j in s.exec(select(Job).where(Job.deployment_id == dep["id"], Job.wave == 0))
        ]
        assert len(wave0) == 2
        for dev in wave0:
            for k in range(3):  # three new boots each, and as many disconnects
                s.add(
                    TelemetryStream(
                        device_id=dev, boot=f"b{k}", max_batch=0, max_t0_ms=0, started_at=t, updated_at=t
                    )
                )
                s.add(
                    StatusChange(device_id=dev, at=t, from_status="online", to_status="offline", reason="lwt")
                )
        s.commit()
    with Session(engine) as s:
        d = service.get(s, dep["id"], lock=True)
        assert service.tick(s, d, now + timedelta(seconds=30)) == []  # still soaking
        actions = service.tick(s, d, now + timedelta(seconds=61))
        s.commit()
    assert [type(a).__name__ for a in actions] == ["Pause"]
    body = api.get(f"/deployments/{dep['id']}", headers=tokens["read"]).json()
    assert body["state"] == "paused"
    assert set(body["evidence"]["regressions"]) == {"reboots", "disconnects"}
    assert body["evidence"]["regressions"]["reboots"]["wave"] == 3.0
    assert body["evidence"]["control"]["devices"] == 18
    # Nothing beyond wave 0 was offered.
    with Session(engine) as s:
        later = s.exec(select(Job).where(Job.deployment_id == dep["id"], Job.wave == 1)).all()
        assert {j.offer_state for j in later} == {"none"}
    # Ops look at the evidence and go on anyway.
    r = api.post(f"/deployments/{dep['id']}/resume", json={"accept_evidence": True}, headers=tokens["write"])
    assert r.status_code == 200, r.text
    assert r.json()["current_wave"] == 1
    assert api.post(f"/deployments/{dep['id']}/resume", headers=tokens["write"]).status_code == 409
    assert api.post(f"/deployments/{dep['id']}/pause", headers=tokens["read"]).status_code == 403
    assert api.post(f"/deployments/{dep['id']}/pause", headers=tokens["write"]).json()["state"] == "paused"
    with Session(engine) as s:
        later = s.exec(select(Job).where(Job.deployment_id == dep["id"], Job.wave == 1)).all()
        assert {j.offer_state for j in later} == {"withdraw"}  # pause withdraws unstarted offers
    assert api.post(f"/deployments/{dep['id']}/abort", headers=tokens["write"]).json()["state"] == "aborted"
    with Session(engine) as s:
        assert s.get(Deployment, dep["id"]).state == "aborted"  # type: ignore[union-attr]


def test_a_deployment_of_an_unfinished_release_or_wrong_hardware_is_refused(
    engine: Engine, api: TestClient, tokens: dict, fleet: Fleet
) -> None:
    rid = api.post("/releases", content=fleet.release(ARTIFACT), headers=tokens["write"]).json()["id"]
    r = api.post("/deployments", json={"name": "x", "release_id": rid}, headers=tokens["write"])
    assert r.status_code == 409
    api.put(f"/releases/{rid}/artifact", content=ARTIFACT, headers=tokens["write"])
    r = api.post(
        "/deployments", json={"name": "x", "release_id": rid, "hardware": "rpi"}, headers=tokens["write"]
    )
    assert r.status_code == 409
    r = api.post(
        "/deployments", json={"name": "x", "release_id": rid, "waves": [50, 40, 100]}, headers=tokens["write"]
    )
    assert r.status_code == 409
