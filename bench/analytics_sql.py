"""Benchmark of the SQL rollups on PostgreSQL: report latency over N observations, and the ingest
cost the rollups add.

World: 100 assets with one sensor each, 10 campaigns on 10 assets each (dedup window, static OTS
with 2 zones, digital spots, in turn), over `--days` days; phones pass 1-3 assets with a sighting
every 20-40 s for 1-20 minutes, 20% randomized. Observations go in batches of 50 (a telemetry
message) and flushes of 20 batches (1,000 observations, the bridge's flush).

1. Ingest cost: the same flushes through `ingest()` (exactly-once store, binary COPY) with and
   without `apply_observations()` in the same transaction, on two fresh databases: obs/s each.
2. Load: the observations go in through the same path with rollups (bigger flushes of 20,000 to
   keep the run bounded); rows/s printed.
3. Reports: per campaign, p50/p95 of campaign_report for the total, by day, by asset x day, and
   by hour over one day (7 runs each, after one warm-up).

    /work/venv/bin/python bench/analytics_sql.py --observations 1000000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime

import psycopg
from sqlalchemy import text
from sqlmodel import Session

from cloud.analytics.sql.query import campaign_report
from cloud.analytics.sql.update import apply_observations
from cloud.campaigns import service
from cloud.campaigns.models import (
    AdSpot,
    AssetCreate,
    CampaignAssetCreate,
    CampaignCreate,
    DeviceHistoryCreate,
    ExposureZoneCreate,
    TenantCreate,
)
from cloud.campaigns.world import load_campaigns
from cloud.core.db import make_engine, migrate
from cloud.core.types import from_ms
from cloud.ingest.rows import ObsRow
from cloud.ingest.store import Batch, ingest, observation_rows

PG_ADMIN = os.environ.get("MOBILYTICS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
T0 = 1_729_987_200_000  # 2024-10-27 00:00 UTC
DAY = 86_400_000
N_ASSETS, N_CAMPAIGNS, PER_CAMPAIGN = 100, 10, 10
RULES = ("dedup_window", "static_ots", "digital_spots")


def square(lon: float, lat: float, d: float) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]],
    }


def new_db() -> str:
    name = f"mob_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def drop_db(url: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def build_world(engine, days: int) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    with Session(engine) as s:
        service.create_tenant(s, data=TenantCreate(id="acme", name="Acme", kind="advertiser"), now=now)
        for i in range(N_ASSETS):
            service.create_asset(s, data=AssetCreate(id=f"asset-{i}", name=f"A{i}", kind="vehicle"), now=now)
            service.mount(
                s,
                data=DeviceHistoryCreate(
                    device_id=f"s-{i}", asset_id=f"asset-{i}", mounted_at=from_ms(T0 - DAY)
                ),
            )
        for j in range(N_CAMPAIGNS):
            rule = RULES[j % 3]
            c = service.create_campaign(
                s,
                data=CampaignCreate(
                    id=f"c{j}", name=f"C{j}", advertiser_id="acme", rule=rule, exposure_rssi=-75
                ),
                now=now,
            )
            assets = [f"asset-{j * PER_CAMPAIGN + i}" for i in range(PER_CAMPAIGN)]
            for a in assets:
                service.add_campaign_asset(
                    s,
                    campaign=c,
                    data=CampaignAssetCreate(
                        asset_id=a, starts_at=from_ms(T0), ends_at=from_ms(T0 + days * DAY)
                    ),
                )
            if rule == "static_ots":
                service.add_zone(
                    s, campaign=c, data=ExposureZoneCreate(id="z1", geometry=square(16.0, 49.0, 0.01))
                )
                service.add_zone(
                    s, campaign=c, data=ExposureZoneCreate(id="z2", geometry=square(16.02, 49.0, 0.01))
                )
            if rule == "digital_spots":
                s.add_all(
                    AdSpot(campaign_id=c.id, asset_id=a, starts_at=from_ms(t), ends_at=from_ms(t + 10_000))
                    for a in assets
                    for t in range(T0, T0 + days * DAY, 120_000)
                )
        s.commit()


def batches(n_obs: int, days: int, seed: int = 5):  # type: ignore[no-untyped-def]
    """Telemetry batches of 50 in arrival order (per sensor, time-ordered, 10% a little late)."""
    rng = random.Random(seed)
    hexes = [f"{rng.getrandbits(64):016x}" for _ in range(200_000)]
    per_sensor: dict[int, list[tuple]] = {}
    made = 0
    while made < n_obs:
        hid_i = rng.randrange(len(hexes))
        rnd = rng.random() < 0.2
        start = T0 + rng.randrange(days * DAY - 3_600_000)
        for _ in range(rng.randint(1, 3)):
            a = rng.randrange(N_ASSETS)
            zoned = (a // PER_CAMPAIGN) % 3 == 1
            t = start
            end = start + rng.randint(60_000, 1_200_000)
            base = rng.uniform(-90, -55)
            lat, lon = (
                (49_005_000, 16_005_000 + rng.choice((0, 20_000))) if zoned else (49_100_000, 16_100_000)
            )
            while t < end and made < n_obs:
                per_sensor.setdefault(a, []).append(
                    (t, rng.choice("wb"), hexes[hid_i], round(base + rng.gauss(0, 3)), int(rnd), lat, lon)
                )
                made += 1
                t += rng.randint(20_000, 40_000)
            start = end + rng.randint(60_000, 600_000)
    out = []
    for a, obs in per_sensor.items():
        obs.sort()
        for k in range(0, len(obs), 50):
            chunk = obs[k : k + 50]
            t0 = chunk[0][0]
            out.append(
                Batch(f"s-{a}", "boot", k // 50, k // 50, t0, [ObsRow(o[0] - t0, *o[1:]) for o in chunk])
            )
    out.sort(key=lambda b: b.t0_ms + (rng.randint(0, 3_600_000) if rng.random() < 0.1 else 0))
    return out


def run_flushes(engine, bs: list[Batch], per_flush: int, rollups: bool) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    now = datetime.now(UTC)
    for i in range(0, len(bs), per_flush):
        with engine.begin() as conn:
            r = ingest(conn, bs[i : i + per_flush], now=now)
            if rollups:
                apply_observations(conn, [row for b in r.fresh for row in observation_rows(b)])
    return time.perf_counter() - t


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * len(xs)) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--observations", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--cost-sample", type=int, default=200_000, help="observations for the ingest-cost ratio")
    ap.add_argument("--load-flush", type=int, default=400, help="batches per flush while loading")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    # 1. ingest cost of the rollups
    sample = batches(args.cost_sample, args.days, seed=11)
    n_sample = sum(len(b.obs) for b in sample)
    rates = {}
    for rollups in (False, True):
        url = new_db()
        eng = make_engine(url)
        migrate(eng)
        build_world(eng, args.days)
        dt = run_flushes(eng, sample, 20, rollups)
        rates[rollups] = n_sample / dt
        eng.dispose()
        drop_db(url)
    print(f"ingest, flushes of 1,000 observations, {n_sample:,} observations:")
    print(
        f"  without rollups {rates[False]:,.0f} obs/s; with rollups {rates[True]:,.0f} obs/s; "
        f"ratio {rates[True] / rates[False]:.2f}"
    )

    # 2. load N observations through ingest + rollups
    url = new_db()
    eng = make_engine(url, pool_size=2)
    migrate(eng)
    build_world(eng, args.days)
    t = time.perf_counter()
    bs = batches(args.observations, args.days)
    gen = time.perf_counter() - t
    dt = run_flushes(eng, bs, args.load_flush, True)
    n = sum(len(b.obs) for b in bs)
    with eng.connect() as conn:
        sizes = {
            tname: conn.execute(text(f"SELECT count(*) FROM {tname}")).scalar()
            for tname in (
                "observation",
                "analytics_seen",
                "analytics_session",
                "analytics_impression",
                "analytics_presence",
            )
        }
        db_size = conn.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
    print(
        f"load: {n:,} observations in {dt:.0f} s ({n / dt:,.0f} obs/s with rollups, flushes of "
        f"{args.load_flush * 50:,}); generated in {gen:.0f} s; rows {sizes}; database {db_size}"
    )

    # 3. report latency
    shapes = {
        "total": dict(by=()),
        "by day": dict(by=("day",)),
        "by asset x day": dict(by=("asset", "day")),
        "by hour, one day": dict(by=("hour",), start_ms=T0 + 2 * DAY, end_ms=T0 + 3 * DAY),
    }
    with eng.connect() as conn:
        campaigns = load_campaigns(conn, [f"c{j}" for j in range(N_CAMPAIGNS)])
        for name, kw in shapes.items():
            times: list[float] = []
            rows = 0
            for j in range(N_CAMPAIGNS):
                c = campaigns[f"c{j}"]
                campaign_report(conn, c, tz="Europe/Prague", **kw)  # warm-up
                for _ in range(7 if j < 3 else 1):
                    t = time.perf_counter()
                    rep = campaign_report(conn, c, tz="Europe/Prague", **kw)
                    times.append(time.perf_counter() - t)
                    rows = max(rows, len(rep.rows))
            print(
                f"report {name:17s}: p50 {statistics.median(times) * 1000:7.0f} ms  "
                f"p95 {pct(times, 0.95) * 1000:7.0f} ms  ({len(times)} runs over {N_CAMPAIGNS} campaigns, "
                f"up to {rows} rows)"
            )
    eng.dispose()
    if not args.keep:
        drop_db(url)


if __name__ == "__main__":
    main()
