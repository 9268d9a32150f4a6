"""Measure the people estimate on the labelled Brno probe-request data (hand-counted occupancy).

Pipeline, the same the cloud runs: one asset ("lab") and one sensor; every frame is an
observation (hid = truncated SHA-256 of the MAC, a stand-in for the fleet's keyed hash); the
authors' static MACs are the infrastructure list; crew detection (present > 80% of a shift) is on.
Per 15-minute grain, people = non-randomized devices seen + the randomized estimate; compared
with the mean hand-counted occupancy of the frames in that grain.

    /work/venv/bin/python bench/analytics_brno.py [DATASET_DIR]
"""

from __future__ import annotations

import csv
import hashlib
import statistics
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from cloud.analytics import Campaign, CampaignAsset, DeviceMount, Rollup
from cloud.analytics.grains import QUARTER_MS

DEFAULT = Path("/work/shared/datasets/probe-requests-brno")
PRAGUE = ZoneInfo("Europe/Prague")


def hid(mac: str) -> str:
    return hashlib.sha256(mac.lower().encode()).hexdigest()[:16]


def evaluate(directory: Path, floor: int = -85) -> dict:
    static = {
        hid(m.strip()) for m in (directory / "exclude-static-macs.txt").read_text().split() if m.strip()
    }
    rows_out = []
    for path in sorted(directory.glob("*.csv")):
        obs, occupancy, naive = [], defaultdict(list), defaultdict(set)
        for r in csv.DictReader(path.open(), delimiter=";"):
            ts = int(datetime.fromisoformat(r["datetime"]).replace(tzinfo=PRAGUE).timestamp() * 1000)
            h = hid(r["src"])
            obs.append(("position_1", ts, "w", h, int(r["rssi"]), int(r["randomized"])))
            q = ts - ts % QUARTER_MS
            occupancy[q].append(float(r["occupancy"]))
            naive[q].add(h)
        t0, t1 = min(o[1] for o in obs), max(o[1] for o in obs) + 1
        rollup = Rollup(
            campaigns=[Campaign("lab", exposure_rssi=floor, passerby_rssi=floor, k=1)],
            runs=[CampaignAsset("lab", "lab", t0, t1)],
            mounts=[DeviceMount("position_1", "lab", t0)],
            infrastructure=static,
        )
        rollup.absorb(obs)
        by_q = {r.period_start_ms: r for r in rollup.report("lab", by=("quarter",)).rows}
        for q, occ in sorted(occupancy.items()):
            r = by_q.get(q)
            est = (r.passersby + (r.randomized.estimated_devices or 0)) if r else 0
            rand_addr = sum(1 for h in naive[q] if rollup.randomized.get(h))
            rows_out.append(
                {
                    "file": path.name,
                    "quarter": q,
                    "occupancy": statistics.mean(occ),
                    "estimate": est,
                    "naive_macs": len(naive[q]),
                    "randomized_addresses": rand_addr,
                    "randomized_estimate": (r.randomized.estimated_devices or 0) if r else 0,
                }
            )
    err = [x["estimate"] - x["occupancy"] for x in rows_out]
    naive_err = [x["naive_macs"] - x["occupancy"] for x in rows_out]
    return {
        "grains": len(rows_out),
        "occupancy_values": sorted({x["occupancy"] for x in rows_out}),
        "mae": statistics.mean(abs(e) for e in err),
        "max_abs": max(abs(e) for e in err),
        "exact_share": sum(1 for e in err if abs(e) < 0.5) / len(err),
        "naive_mae": statistics.mean(abs(e) for e in naive_err),
        "randomized_addresses": sum(x["randomized_addresses"] for x in rows_out),
        "randomized_estimate": sum(x["randomized_estimate"] for x in rows_out),
        "worst": sorted(rows_out, key=lambda x: -abs(x["estimate"] - x["occupancy"]))[:5],
    }


def main() -> None:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    for floor in (-100, -85):
        print(f"--- RSSI floor {floor} dBm (exposure = passerby floor)")
        report(evaluate(directory, floor))


def report(res: dict) -> None:
    print(f"Brno lab, {res['grains']} grains of 15 min; occupancy values seen: {res['occupancy_values']}")
    print(f"estimate MAE {res['mae']:.2f} people, max |error| {res['max_abs']:.1f}")
    print(f"exact in {res['exact_share']:.0%} of grains")
    print(f"naive distinct-MAC count MAE {res['naive_mae']:.2f}")
    print(
        f"randomized addresses over all grains {res['randomized_addresses']}, "
        f"estimated randomized devices {res['randomized_estimate']:.1f}"
    )
    for w in res["worst"]:
        when = datetime.fromtimestamp(w["quarter"] / 1000, tz=PRAGUE).isoformat()
        print(
            f"  {when}: occupancy {w['occupancy']:.0f}, estimate {w['estimate']:.1f}, "
            f"naive {w['naive_macs']}, "
            f"randomized addresses {w['randomized_addresses']} -> {w['randomized_estimate']:.1f}"
        )


if __name__ == "__main__":
    main()
