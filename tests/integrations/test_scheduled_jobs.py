"""`mobilytics up`'s scheduled jobs: configured from settings, run as named tasks in a TaskGroup as
the stack does, one tick does the work against the local stand-ins (moto S3, BlueZoo), stop ends them."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import boto3
from sqlalchemy import Engine, func, insert, select
from sqlmodel import Session

from cloud.analytics.sql.tables import impression
from cloud.bluezoo.config import BlueZooSettings
from cloud.campaigns.models import Asset, Campaign, CampaignAsset, Tenant
from cloud.exports.config import ExportSettings
from cloud.exports.models import PartnerExport
from cloud.exports.partners import yesterday
from cloud.ingest.models import observation
from cloud.stack import scheduled_jobs
from tests.integrations.bluezoo_server import BlueZooStandIn
from tests.integrations.test_bluezoo import bluezoo  # noqa: F401  (fixture, reused)


def _keys(s: ExportSettings) -> list[str]:
    s3 = boto3.client(
        "s3",
        endpoint_url=s.export_s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDMOTO",
        aws_secret_access_key="moto-secret",
    )
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=s.export_s3_bucket).get("Contents", []))


def _ran_yesterday(engine: Engine) -> None:
    """A campaign on a truck all of yesterday, 150 non-randomized devices seen at 09:00 UTC."""
    day = yesterday(datetime.now(UTC))
    start = datetime.combine(day, time(0), UTC)
    at = int((start + timedelta(hours=9)).timestamp() * 1000)
    with Session(engine) as s:
        s.add(Tenant(id="acme", name="ACME", kind="advertiser", created_at=start))
        s.add(Asset(id="truck-1", name="Truck", kind="vehicle", created_at=start))
        s.flush()
        s.add(Campaign(id="spring", name="spring", advertiser_id="acme", created_at=start))
        s.flush()
        s.add(
            CampaignAsset(
                campaign_id="spring", asset_id="truck-1", starts_at=start, ends_at=start + timedelta(days=1)
            )
        )
        rows = [
            {
                "campaign_id": "spring",
                "asset_id": "truck-1",
                "zone_id": "",
                "hid": f"a1b2{i:012x}",
                "at": at + i,
                "grain": at,
                "n": 1,
                "randomized": False,
            }
            for i in range(150)
        ]
        s.execute(insert(impression), rows)
        s.commit()


async def test_nothing_is_scheduled_unless_configured(engine: Engine) -> None:
    async with scheduled_jobs(engine, exports=ExportSettings(), bluezoo=BlueZooSettings()) as jobs:
        assert jobs == []


async def test_one_tick_of_each_job_does_its_work_and_stop_ends_the_tasks(
    engine: Engine,
    export_settings: ExportSettings,
    bluezoo: tuple[BlueZooStandIn, BlueZooSettings],  # noqa: F811
) -> None:
    _ran_yesterday(engine)
    state, bz = bluezoo
    exports = replace(export_settings, export_schedule_interval_s=3600)
    bz = replace(bz, bluezoo_poll_interval_s=3600.0)  # one tick in the test's lifetime
    async with scheduled_jobs(engine, exports=exports, bluezoo=bz) as jobs:
        assert [j.name for j in jobs] == ["exports", "bluezoo"]
        async with asyncio.TaskGroup() as tg:  # as run_stack does
            tasks = [tg.create_task(j.run(), name=j.name) for j in jobs]
            assert [t.get_name() for t in tasks] == ["exports", "bluezoo"]
            for _ in range(200):  # the first tick runs at once; wait for both to land
                with Session(engine) as s:
                    n_obs = s.execute(select(func.count()).select_from(observation)).scalar_one()
                    done = list(s.execute(select(PartnerExport)).scalars())
                # An export row appears when it starts; wait until both have finished writing.
                if n_obs == 250 and len(done) == 2 and all(e.status == "complete" for e in done):
                    break
                await asyncio.sleep(0.05)
            for j in jobs:
                j.stop()
        assert all(t.done() and not t.cancelled() and t.exception() is None for t in tasks)
    day = yesterday(datetime.now(UTC)).isoformat()
    assert sorted(e.partner for e in done) == ["mogean", "spotzi"]
    assert all(e.status == "complete" for e in done), [(e.partner, e.status, e.reason) for e in done]
    assert any(k.startswith("mogean/") for k in _keys(exports))
    assert f"spotzi/spring/{day}/zones/zone_hours.csv" in _keys(exports)
    assert n_obs == 250  # every BlueZoo record of the stand-in, imported once
    assert [c for c, _ in state.log][:5] == [None, "c1", "c2", "c3", "c4"]
    assert len(state.log) == 5  # stopped after one tick: BlueZoo was not asked again
