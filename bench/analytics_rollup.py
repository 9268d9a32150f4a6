"""Benchmark of the analytics core on one CPU core: observations/s absorbed and query latency.

Synthetic day: 20 assets (one sensor each, 5 of them with zoned GPS), 3 campaigns (dedup window,
static OTS with 2 zones, digital spots), 30,000 phones (20% randomized, rotating every 10-20 min)
each passing 1-3 assets with a sighting every 20-40 s for 1-20 minutes. Batches of 50 observations
(the telemetry message size), arriving with 10% of batches late.

    /work/venv/bin/python bench/analytics_rollup.py [--phones N] [--batch N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from cloud.analytics import AdSpot, Campaign, CampaignAsset, DeviceMount, ImpressionRule, Rollup, parse_zone

T0 = 1_729_980_000_000 - 1_729_980_000_000 % 900_000
DAY = 24 * 3600 * 1000


def square(lon: float, lat: float, d: float) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]],
    }


def world(n_assets: int = 20):
    zones = (parse_zone("z1", square(16.0, 49.0, 0.01)), parse_zone("z2", square(16.02, 49.0, 0.01)))
    assets = [f"asset-{i}" for i in range(n_assets)]
    spots = tuple(AdSpot(a, t, t + 10_000) for a in assets[10:15] for t in range(T0, T0 + DAY, 120_000))
    campaigns = [
        Campaign("dedup", exposure_rssi=-75),
        Campaign("static", exposure_rssi=-78, zones=zones, rule=ImpressionRule.STATIC_OTS),
        Campaign("digital", exposure_rssi=-75, rule=ImpressionRule.DIGITAL_SPOTS, spots=spots),
    ]
    runs = [CampaignAsset("dedup", a, T0, T0 + DAY) for a in assets[:12]]
    runs += [CampaignAsset("static", a, T0, T0 + DAY) for a in assets[15:]]
    runs += [CampaignAsset("digital", a, T0, T0 + DAY) for a in assets[10:15]]
    mounts = [DeviceMount(f"s-{i}", a, T0 - DAY) for i, a in enumerate(assets)]
    return campaigns, runs, mounts, assets


def observations(n_phones: int, n_assets: int, seed: int = 5) -> list[tuple]:
    rng = random.Random(seed)
    out = []
    for p in range(n_phones):
        randomized = rng.random() < 0.2
        kind = rng.choice("wb")
        for _ in range(rng.randint(1, 3)):
            a = rng.randrange(n_assets)
            t = T0 + rng.randrange(DAY - 3600_000)
            end = t + rng.randint(60_000, 20 * 60_000)
            rot = t + rng.randint(600_000, 1_200_000)
            epoch = 0
            while t < end:
                if randomized and t > rot:
                    epoch += 1
                    rot = t + rng.randint(600_000, 1_200_000)
                hid = f"{p:08x}{epoch:08x}" if randomized else f"{p:08x}ffffffff"
                lat = 49_000_000 + rng.randint(0, 12_000) if a >= 15 else None
                lon = 16_000_000 + rng.randint(0, 30_000) if a >= 15 else None
                out.append((f"s-{a}", t, kind, hid, rng.randint(-92, -50), int(randomized), lat, lon))
                t += rng.randint(20_000, 40_000)
    out.sort(key=lambda o: o[1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--phones", type=int, default=30_000)
    ap.add_argument("--batch", type=int, default=50)
    args = ap.parse_args()
    campaigns, runs, mounts, assets = world()
    obs = observations(args.phones, len(assets))
    rng = random.Random(1)
    batches = [obs[i : i + args.batch] for i in range(0, len(obs), args.batch)]
    is_late = [rng.random() < 0.1 for _ in batches]
    order = [b for b, x in zip(batches, is_late, strict=True) if not x]
    order += [b for b, x in zip(batches, is_late, strict=True) if x]
    rollup = Rollup(campaigns=campaigns, runs=runs, mounts=mounts)
    t = time.perf_counter()
    for b in order:
        rollup.absorb(b)
    dt = time.perf_counter() - t
    cells = sum(len(c) for c in rollup.cells.values())
    print(f"absorbed {len(obs):,} observations in {len(batches):,} batches of {args.batch}: {dt:.2f} s")
    print(f"  => {len(obs) / dt:,.0f} observations/s on one core (10% of batches late)")
    print(f"  state: {len(rollup.tracks):,} tracks, {cells:,} cells (campaign x asset x zone x 15 min)")
    queries = {
        "campaign total": dict(by=()),
        "by local hour": dict(by=("hour",), tz="Europe/Prague"),
        "by asset x zone x day": dict(by=("asset", "zone", "day"), tz="Europe/Prague"),
        "by asset x 15 min": dict(by=("asset", "quarter")),
    }
    for cid in ("dedup", "static", "digital"):
        for name, kw in queries.items():
            lat = []
            for _ in range(7):
                t = time.perf_counter()
                rep = rollup.report(cid, **kw)
                lat.append((time.perf_counter() - t) * 1000)
            lat.sort()
            print(
                f"  query {cid:8s} {name:24s} rows {len(rep.rows):5d}: "
                f"p50 {statistics.median(lat):7.1f} ms  max {lat[-1]:7.1f} ms"
            )


if __name__ == "__main__":
    main()
