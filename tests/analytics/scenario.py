"""A seeded ground-truth scenario: known people, paths, sensors and campaigns.

It plays one night shift (2024-10-27, Europe/Prague, the day clocks fall back) on a street laid
out in metres (x east, y north) around 49.0 N 16.0 E:

- truck-1 drives the street x = 0..3000 and back, stopping 12 minutes at x = 800 (zone
  "old-town") and x = 2200 (zone "riverside"); its sensor reports GPS with each observation;
- board-1 at x = 1200 and board-2 at x = 1600 are fixed; their two sensors are *swapped* between
  the boards at mid-shift (DeviceHistory says so);
- people: walkers along the pavement, lingerers near the boards, waiters at the truck stops; a
  quarter carry phones with randomized addresses that rotate every 10-20 minutes;
- two crew phones ride in the truck all shift, a kiosk sits by board-2 all night (it must be
  found as crew there), a router by board-1 is on the infrastructure list;
- each phone probes every 20-40 s; a sensor hears it at RSSI = -45 - 26 log10(d) + N(0, 2.5) down
  to -95 dBm; observations go out in per-sensor batches, some late, some duplicated.

`Scenario.expected(...)` computes every metric from the ground truth (who really was where,
which asset really carried which sensor, whether the truck really was inside a rectangle zone)
with straightforward batch code. It never calls cloud.analytics.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

TZ = "Europe/Prague"
T0 = int(datetime(2024, 10, 26, 22, 0, tzinfo=UTC).timestamp() * 1000)  # 00:00 CEST local
END = T0 + 7 * 3600 * 1000  # 06:00 CET local (a 7-hour night: 02:00-03:00 happens twice)
TMID = T0 + 3 * 3600 * 1000 + 20 * 60 * 1000
MIN = 60_000
Q = 15 * MIN
LAT0, LON0 = 49.0, 16.0
M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(LAT0))

BOARD_XY = {"board-1": (1200.0, 0.0), "board-2": (1600.0, 0.0)}
# the truth of who carries which sensor: (device, asset, from, until)
MOUNTS = [
    ("s-truck", "truck-1", T0, None),
    ("s-a", "board-1", T0, TMID),
    ("s-a", "board-2", TMID, None),
    ("s-b", "board-2", T0, TMID),
    ("s-b", "board-1", TMID, None),
]
# zones as rectangles in micro-degrees (min_lat, min_lon, max_lat, max_lon)
ZONE_RECTS = {
    "old-town": (48_999_500, 16_008_000, 49_000_500, 16_014_000),  # x ~ 585..1025 m
    "riverside": (48_999_500, 16_027_000, 49_000_500, 16_033_000),  # x ~ 1975..2415 m
}
SPOT_EVERY_MS = 2 * MIN
SPOT_LEN_MS = 10_000
CAMPAIGNS = {
    # id: (rule, exposure_rssi, zones?, runs [(asset, start, end)])
    "truck-zones": ("static_ots", -78, True, [("truck-1", T0, END)]),
    "boards": ("dedup_window", -75, False, [("board-1", T0, END), ("board-2", T0 + 3600_000, END)]),
    "screen": ("digital_spots", -75, False, [("board-2", T0, END)]),
}
PASSERBY_RSSI = -85
SESSION_GAP = 5 * MIN
DEDUP_MS = 15 * MIN
VISITOR_MS, ENGAGED_MS = 2 * MIN, 10 * MIN


def to_e6(x: float, y: float) -> tuple[int, int]:
    return round((LAT0 + y / M_PER_DEG_LAT) * 1e6), round((LON0 + x / M_PER_DEG_LON) * 1e6)


def hid_of(seed: int, *parts: object) -> str:
    return hashlib.sha256(repr((seed, *parts)).encode()).hexdigest()[:16]


def zone_geojson(zone_id: str) -> dict:
    la0, lo0, la1, lo1 = (v / 1e6 for v in ZONE_RECTS[zone_id])
    return {"type": "Polygon", "coordinates": [[[lo0, la0], [lo1, la0], [lo1, la1], [lo0, la1], [lo0, la0]]]}


def spots() -> list[tuple[str, int, int]]:
    out = [("board-2", t, t + SPOT_LEN_MS) for t in range(T0, END, SPOT_EVERY_MS)]
    out += [("board-2", t + 60_000, t + 60_800) for t in range(T0, END, 10 * MIN)]  # 0.8 s glitches
    return out


@dataclass
class Person:
    pid: str
    role: str  # walker | lingerer | waiter | crew | kiosk | router
    randomized: bool
    kind: str
    probe_ms: int
    path: list[tuple[int, float, float]]  # (t, x, y), piecewise linear; riding = follows the truck
    riding: bool = False
    rotations: list[int] = field(default_factory=list)  # randomized: start times of each address

    def position(self, t: int, truck: TruckPath) -> tuple[float, float]:
        if self.riding:
            x, y = truck.xy(t)
            return x + 1.0, y + 1.0
        return _interp(self.path, t)

    def hid(self, seed: int, t: int) -> str:
        if not self.randomized:
            return hid_of(seed, self.pid)
        i = 0
        while i + 1 < len(self.rotations) and self.rotations[i + 1] <= t:
            i += 1
        return hid_of(seed, self.pid, i)


def _interp(path: list[tuple[int, float, float]], t: int) -> tuple[float, float]:
    for (t0, x0, y0), (t1, x1, y1) in itertools.pairwise(path):
        if t0 <= t <= t1:
            f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
            return x0 + f * (x1 - x0), y0 + f * (y1 - y0)
    return path[-1][1], path[-1][2]


class TruckPath:
    """Drive 8 m/s along y = 0, stop 12 min at x = 800 and x = 2200 each way, 5 min at each end."""

    def __init__(self) -> None:
        legs = [(0, 5), (800, 12), (2200, 12), (3000, 5), (2200, 12), (800, 12)]
        pts: list[tuple[int, float, float]] = [(T0, 0.0, 0.0)]
        t, x = T0, 0.0
        i = 0
        while t < END + 3600_000:
            target, stop = legs[(i + 1) % len(legs)]
            t += round(abs(target - x) / 8.0 * 1000)
            x = float(target)
            pts.append((t, x, 0.0))
            t += stop * MIN
            pts.append((t, x, 0.0))
            i += 1
        self.path = pts

    def xy(self, t: int) -> tuple[float, float]:
        return _interp(self.path, t)


@dataclass(frozen=True)
class Sighting:
    """One ground-truth sighting: what the sensor sent plus what really happened."""

    device_id: str
    ts: int
    kind: str
    hid: str
    rssi: int
    flags: int
    lat_e6: int
    lon_e6: int
    pid: str
    asset: str  # the true asset (from MOUNTS)

    def observation(self) -> tuple:
        return (self.device_id, self.ts, self.kind, self.hid, self.rssi, self.flags, self.lat_e6, self.lon_e6)


class Scenario:
    def __init__(self, seed: int = 1, *, walkers: int = 150, lingerers: int = 60, waiters: int = 60) -> None:
        self.seed = seed
        rng = random.Random(seed)
        self.truck = TruckPath()
        self.people: list[Person] = []

        def person(
            role: str, path: list[tuple[int, float, float]], *, randomized: bool | None = None
        ) -> Person:
            rnd = rng.random() < 0.25 if randomized is None else randomized
            p = Person(
                pid=f"{role}-{len(self.people)}",
                role=role,
                randomized=rnd,
                kind=rng.choice("wb"),
                probe_ms=rng.randint(20_000, 40_000),
                path=path,
            )
            if rnd:
                t = path[0][0] - rng.randint(0, 15 * MIN)
                while t < path[-1][0]:
                    p.rotations.append(t)
                    t += rng.randint(10 * MIN, 20 * MIN)
            self.people.append(p)
            return p

        for _ in range(walkers):
            start = rng.randint(T0, END - 30 * MIN)
            x0 = rng.uniform(0, 3000)
            dur = rng.randint(5 * MIN, 25 * MIN)
            dx = rng.choice((-1, 1)) * rng.uniform(1.1, 1.5) * dur / 1000
            y = rng.uniform(2, 6)
            person("walker", [(start, x0, y), (start + dur, x0 + dx, y)])
        for _ in range(lingerers):
            bx, _by = BOARD_XY[rng.choice(sorted(BOARD_XY))]
            start = rng.randint(T0, END - 40 * MIN)
            dur = rng.choice((rng.randint(MIN, 4 * MIN), rng.randint(4 * MIN, 30 * MIN)))
            x, y = bx + rng.uniform(-15, 15), rng.uniform(3, 15)
            person("lingerer", [(start, x, y), (start + dur, x + rng.uniform(-2, 2), y)])
        for _ in range(waiters):
            sx = rng.choice((800.0, 2200.0))
            start = rng.randint(T0, END - 30 * MIN)
            dur = rng.randint(3 * MIN, 20 * MIN)
            x, y = sx + rng.uniform(-12, 12), rng.uniform(3, 8)
            person("waiter", [(start, x, y), (start + dur, x, y)])
        self.crew = {"truck-1": set(), "board-2": set()}
        for _ in range(2):
            p = person("crew", [(T0, 0, 0), (END, 0, 0)], randomized=False)
            p.riding = True
            self.crew["truck-1"].add(p.hid(seed, T0))
        kiosk = person("kiosk", [(T0, 1605.0, 9.0), (END, 1605.0, 9.0)], randomized=False)
        self.crew["board-2"].add(kiosk.hid(seed, T0))
        router = person("router", [(T0, 1198.0, 4.0), (END, 1198.0, 4.0)], randomized=False)
        self.infrastructure = {router.hid(seed, T0)}
        self.sightings = self._sense(random.Random(seed + 1))

    # ---- what the sensors see -----------------------------------------------------------------

    def sensor_xy(self, device: str, t: int) -> tuple[str, float, float] | None:
        for dev, asset, start, until in MOUNTS:
            if dev == device and start <= t and (until is None or t < until):
                if asset == "truck-1":
                    x, y = self.truck.xy(t)
                else:
                    x, y = BOARD_XY[asset]
                return asset, x, y
        return None

    def _sense(self, rng: random.Random) -> list[Sighting]:
        out: list[Sighting] = []
        for p in self.people:
            t = p.path[0][0] + rng.randint(0, p.probe_ms)
            while t <= p.path[-1][0]:
                px, py = p.position(t, self.truck)
                for dev in ("s-truck", "s-a", "s-b"):
                    where = self.sensor_xy(dev, t)
                    if where is None:
                        continue
                    asset, sx, sy = where
                    d = math.hypot(px - sx, py - sy)
                    if d > 300:
                        continue
                    rssi = round(-45 - 26 * math.log10(max(d, 1.0)) + rng.gauss(0, 2.5))
                    if rssi < -95:
                        continue
                    lat, lon = to_e6(sx, sy)
                    out.append(
                        Sighting(
                            dev,
                            t,
                            p.kind,
                            p.hid(self.seed, t),
                            rssi,
                            int(p.randomized),
                            lat,
                            lon,
                            p.pid,
                            asset,
                        )
                    )
                t += p.probe_ms + rng.randint(-3000, 3000)
        out.sort(key=lambda s: (s.ts, s.device_id, s.hid))
        return out

    def batches(
        self, *, size: int = 40, late: float = 0.15, dup: float = 0.05, shuffle: bool = False
    ) -> list:
        """Per-sensor batches in send order; `late` of them arrive after all others, `dup` twice."""
        rng = random.Random(self.seed + 2)
        per_dev: dict[str, list[tuple]] = defaultdict(list)
        for s in self.sightings:
            per_dev[s.device_id].append(s.observation())
        batches = [obs[i : i + size] for obs in per_dev.values() for i in range(0, len(obs), size)]
        batches.sort(key=lambda b: b[0][1])
        on_time = [b for b in batches if rng.random() >= late]
        held = [b for b in batches if b not in on_time]
        sent = on_time + held
        sent += [b for b in batches if rng.random() < dup]
        if shuffle:
            rng.shuffle(sent)
        return sent

    # ---- ground truth ------------------------------------------------------------------------

    def truth_zone(self, s: Sighting) -> str | None:
        for zid, (la0, lo0, la1, lo1) in ZONE_RECTS.items():
            if la0 <= s.lat_e6 <= la1 and lo0 <= s.lon_e6 <= lo1:
                return zid
        return None

    def campaign_sightings(self, cid: str) -> list[tuple[Sighting, str]]:
        """Sightings counted for a campaign, with their zone key ("" when it has no zones)."""
        _rule, _exp, zoned, runs = CAMPAIGNS[cid]
        out = []
        for s in self.sightings:
            if s.hid in self.infrastructure or s.hid in self.crew.get(s.asset, ()):
                continue
            if not any(a == s.asset and a0 <= s.ts < a1 for a, a0, a1 in runs):
                continue
            if s.rssi < PASSERBY_RSSI:
                continue
            z = ""
            if zoned:
                z = self.truth_zone(s)
                if z is None:
                    continue
            out.append((s, z))
        return out

    def expected(self, cid: str, by: tuple[str, ...], tz: str = TZ) -> dict[tuple, dict]:
        """Non-randomized metrics per (asset, zone, period) row, all from the ground truth."""
        rule, exposure, _zoned, _runs = CAMPAIGNS[cid]
        zi = ZoneInfo(tz)

        def label(q: int) -> str | None:
            local = datetime.fromtimestamp(q / 1000, tz=UTC).astimezone(zi)
            if "quarter" in by:
                return local.isoformat()
            if "hour" in by:
                return local.replace(minute=0).isoformat()
            if "day" in by:
                return local.replace(hour=0, minute=0).isoformat()
            return None

        def row(asset: str, zone: str, q: int) -> tuple:
            return (
                asset if "asset" in by else None,
                zone if "zone" in by else None,
                label(q),
            )

        seen: dict[tuple, set] = defaultdict(set)
        exposure_ts: dict[tuple, list[int]] = defaultdict(list)
        randomized: dict[str, bool] = {}
        for s, z in self.campaign_sightings(cid):
            randomized[s.hid] = bool(s.flags)
            r = row(s.asset, z, s.ts - s.ts % Q)
            seen[r].add(s.hid)
            if s.rssi >= exposure:
                exposure_ts[(s.asset, z, s.hid)].append(s.ts)
        my_spots = spots()
        imp: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        sessions: dict[tuple, list[tuple[str, int]]] = defaultdict(list)
        for (asset, z, hid), tss in exposure_ts.items():
            tss.sort()
            sess: list[list[int]] = []
            for t in tss:
                if sess and t - sess[-1][1] <= SESSION_GAP:
                    sess[-1][1] = t
                else:
                    sess.append([t, t])
            if rule == "dedup_window":
                firsts: dict[int, int] = {}
                for t in tss:
                    firsts.setdefault(t // DEDUP_MS, t)
                moments = list(firsts.values())
            elif rule == "static_ots":
                moments = [a for a, _ in sess]
            else:
                moments = []
                for a, b in sess:
                    for sa, s0, s1 in my_spots:
                        if sa == asset and min(s1, b + 1000) - max(s0, a) >= 1000:
                            moments.append(max(s0, a))
            for m in moments:
                imp[row(asset, z, m - m % Q)][hid] += 1
            for a, b in sess:
                sessions[row(asset, z, a - a % Q)].append((hid, b - a))
        out: dict[tuple, dict] = {}
        for r in set(seen) | set(imp) | set(sessions):
            nr_imp = {h: n for h, n in imp[r].items() if not randomized[h]}
            dw = sorted(d for h, d in sessions[r] if not randomized[h])
            reach = len(nr_imp)
            buckets = dict.fromkeys(["0-1m", "1-2m", "2-5m", "5-10m", "10-20m", "20m+"], 0)
            for d in dw:
                m = d / MIN
                b = (
                    "0-1m"
                    if m < 1
                    else "1-2m"
                    if m < 2
                    else "2-5m"
                    if m < 5
                    else "5-10m"
                    if m < 10
                    else "10-20m"
                )
                buckets[b if m < 20 else "20m+"] += 1
            rand_imp = {h: n for h, n in imp[r].items() if randomized[h]}
            out[r] = {
                "impressions": sum(nr_imp.values()),
                "reach": reach,
                "frequency": round(sum(nr_imp.values()) / reach, 3) if reach else None,
                "passersby": sum(1 for h in seen[r] if not randomized[h]),
                "visitors": len({h for h, d in sessions[r] if not randomized[h] and d >= VISITOR_MS}),
                "engaged": len({h for h, d in sessions[r] if not randomized[h] and d >= ENGAGED_MS}),
                "dwell_median_s": dw[math.ceil(0.5 * len(dw)) - 1] / 1000 if dw else None,
                "dwell_p90_s": dw[math.ceil(0.9 * len(dw)) - 1] / 1000 if dw else None,
                "dwell_buckets": buckets,
                "randomized.addresses": len(rand_imp),
                "randomized.impressions_by_address": sum(rand_imp.values()),
            }
        return out

    def randomized_people(self, cid: str) -> set[str]:
        """People (not addresses) with randomized phones who had an exposure sighting."""
        exposure = CAMPAIGNS[cid][1]
        return {s.pid for s, _z in self.campaign_sightings(cid) if s.flags and s.rssi >= exposure}

    def randomized_people_by_quarter(self, cid: str) -> dict[tuple[str, int], set[str]]:
        exposure = CAMPAIGNS[cid][1]
        out: dict[tuple[str, int], set[str]] = defaultdict(set)
        for s, _z in self.campaign_sightings(cid):
            if s.flags and s.rssi >= exposure:
                out[(s.asset, s.ts - s.ts % Q)].add(s.pid)
        return out
