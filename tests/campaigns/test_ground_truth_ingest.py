"""Issue 8's ground truth, end to end: the scenario's telemetry goes MQTT -> bridge -> DB ->
rollups -> /v1 API, with late and duplicated batches and sensors swapped between boards, and every
metric the API returns equals the value computed independently from the scenario. Runs on
Mosquitto + PostgreSQL and on amqtt + SQLite (the `cloud` fixture of tests/cloud)."""

from __future__ import annotations

import os
from collections import defaultdict

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from cloud.analytics.privacy import small
from cloud.api.app import create_app
from cloud.auth.models import Scope
from cloud.auth.service import create_token
from cloud.core.config import Settings
from cloud.core.types import utcnow
from cloud.ingest.models import TelemetryBatch
from protocol.codec import encode, make
from tests.analytics.scenario import CAMPAIGNS, TZ, Scenario
from tests.analytics.test_ground_truth import BREAKDOWNS, FIELDS
from tests.campaigns.conftest import h
from tests.campaigns.world_setup import build_world

DEVICE_FIELDS = ("reach", "passersby", "visitors", "engaged")


def telemetry_messages(sc: Scenario) -> tuple[list[tuple[str, bytes]], int]:
    """The scenario's batches as protocol v1 telemetry, in its send order (late ones last, some twice)."""
    sent = sc.batches(size=40, late=0.15, dup=0.08)
    numbered: dict[tuple, int] = {}
    per_dev: dict[str, list[tuple]] = defaultdict(list)
    for b in sorted({tuple(b) for b in sent}, key=lambda b: (b[0][0], b[0][1])):
        per_dev[b[0][0]].append(b)
    for _dev, bs in per_dev.items():
        for i, b in enumerate(bs):
            numbered[b] = i
    boots = {d: os.urandom(4).hex() for d in per_dev}
    seqs: dict[str, int] = defaultdict(int)
    out = []
    for b in sent:
        b = tuple(b)
        dev, t0 = b[0][0], b[0][1]
        body = {
            "batch": numbered[b],
            "t0": t0,
            "obs": [[o[1] - t0, o[2], o[3], o[4], o[5], o[6], o[7]] for o in b],
        }
        seqs[dev] += 1
        msg = make("telemetry", dev, boots[dev], seqs[dev], t0, body)
        out.append((msg.topic(), encode(msg)))
    return out, len(numbered)


def _value(row: dict, name: str):
    if name.startswith("randomized."):
        return row["randomized"][name.split(".", 1)[1]]
    return row[name]


async def test_api_equals_ground_truth_through_the_real_ingest(cloud) -> None:
    sc = Scenario(seed=1)
    with Session(cloud.engine) as s:
        _, ops = create_token(s, name="ops", scope=Scope.WRITE, now=utcnow())
        s.commit()
    with TestClient(create_app(cloud.engine, Settings(api_host="0.0.0.0"))) as api:
        build_world(api, h(ops), sc)
        key = api.post("/tenants/acme/keys", json={}, headers=h(ops)).json()["key"]

        messages, unique = telemetry_messages(sc)
        async with cloud.client("scenario-sensors") as c:
            for topic, payload in messages:
                await c.publish(topic, payload, qos=1)

        def stored(session: Session) -> bool:
            return session.scalar(select(func.count()).select_from(TelemetryBatch)) == unique

        try:
            await cloud.wait_for(stored, within=60)
        except AssertionError:
            from cloud.ingest.models import DeadLetter

            with Session(cloud.engine) as s:
                n = s.exec(select(func.count()).select_from(TelemetryBatch)).one()
                dead = s.exec(select(DeadLetter.reason, DeadLetter.detail).limit(3)).all()
            raise AssertionError(f"stored {n} of {unique} batches; dead letters {dead}") from None

        # privacy first, with the campaigns' k = 5: no device count between 1 and 4, no ids
        for cid in CAMPAIGNS:
            for by in BREAKDOWNS:
                r = api.get(
                    f"/v1/campaigns/{cid}/report", params={"by": list(by), "limit": 5000}, headers=h(key)
                )
                assert r.status_code == 200, r.text
                for row in r.json()["rows"]:
                    for f in DEVICE_FIELDS:
                        assert row[f] is None or not small(row[f], 5), (cid, by, f, row)
                    assert "hid" not in row
        # then exact values with k = 1 (ops may set k per campaign)
        for cid in CAMPAIGNS:
            assert api.patch(f"/campaigns/{cid}", json={"k": 1}, headers=h(ops)).status_code == 200
            zoned = CAMPAIGNS[cid][2]
            for by in BREAKDOWNS:
                r = api.get(
                    f"/v1/campaigns/{cid}/report",
                    params={"by": list(by), "tz": TZ, "limit": 5000},
                    headers=h(key),
                )
                body = r.json()
                assert body["total"] == len(body["rows"])
                got = {
                    (row["asset_id"], row["zone_id"], row["period"]): {f: _value(row, f) for f in FIELDS}
                    for row in body["rows"]
                }
                want = {
                    (a, z if zoned or z is None else None, p): v
                    for (a, z, p), v in sc.expected(cid, by).items()
                }
                assert got.keys() == want.keys(), (cid, by)
                for k in want:
                    assert got[k] == want[k], (cid, by, k)
        # the CSV carries the same numbers
        csv_text = api.get(
            "/v1/campaigns/boards/report", params={"by": ["asset"], "format": "csv"}, headers=h(key)
        ).text
        lines = csv_text.strip().splitlines()
        assert lines[0].startswith("campaign_id,asset_id,zone_id,period")
        want = sc.expected("boards", ("asset",))
        for line in lines[1:]:
            cells = line.split(",")
            assert int(cells[6]) == want[(cells[1], None, None)]["reach"]
