"""``simulate``: synthetic but realistic traffic for demos and tests, seeded and reproducible.

The world: a truck (the sensor) drives a route, stopping at each waypoint for ``stop_s`` (lights, a
parking spot for the campaign); people walk along the pavement past it, a share of them stand still
for minutes (a bus stop, a queue), and the crew's own phones ride in the cab all shift.

Radio, following what field studies of probe and BLE counting report:
- RSSI by log-distance path loss, ``-40 dBm at 1 m - 10*2.7*log10(d) + N(0, 4 dB)`` shadowing; nothing
  under the sensitivity floor (-100 dBm) is heard.
- WiFi probes come in bursts (2-4 frames) every 20-90 s per phone; 75% of phones use randomised
  (locally administered) addresses and half of those draw a new one per burst; 10% of bursts name
  an SSID (a directed probe). Each phone model has its own IE fingerprint.
- BLE: 80% of phones advertise, about one heard every 2 s, from a random address that rotates every
  15 minutes.

Time runs ``speed`` times faster than real time (None: as fast as the consumer takes it) from
``start_ms``; the GPS track is a pure function of time, so ``fixes()`` and ``sightings()`` agree
without sharing state.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from edge_agent.gps.fix import Fix, FixMode
from edge_agent.sighting import Kind, Sighting

# A loop through Brno's centre (lat, lon): Hlavní nádraží, Náměstí Svobody, Moravské náměstí, Janáčkovo
# divadlo, Zvonařka, back to the station.
BRNO_ROUTE = [
    (49.19069, 16.61287),
    (49.19510, 16.60810),
    (49.19805, 16.60850),
    (49.20040, 16.60980),
    (49.19350, 16.61770),
    (49.19069, 16.61287),
]
_OUIS = [bytes.fromhex(x) for x in ("f0d1a9", "3c2eff", "a4c361", "dc2b2a", "84fcfe", "b0e5ed")]
_EARTH_M = 6_371_000.0


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat = math.radians((a[0] + b[0]) / 2)
    dx = math.radians(b[1] - a[1]) * math.cos(lat) * _EARTH_M
    dy = math.radians(b[0] - a[0]) * _EARTH_M
    return math.hypot(dx, dy)


@dataclass
class _Phone:
    pos: float  # along-track position, metres
    lateral: float  # distance from the truck's path, metres
    walk: float  # metres per second along the track (0 for someone waiting)
    leaves_at: float  # seconds; dwellers leave after their dwell, walkers when out of range
    wifi_mac: bytes
    randomized: bool
    rotates_per_burst: bool
    model: int
    next_burst: float
    ble: bool
    ble_key: bytes
    crew: bool = False


@dataclass
class Simulation:
    """A seeded world; use one object as both the sighting source and the GPS source."""

    seed: int = 1
    start_ms: int | None = None
    speed: float | None = 1.0
    duration_s: float | None = None
    arrivals_per_min: float = 20.0
    dwell_share: float = 0.1
    crew: int = 2
    truck_kmh: float = 25.0
    stop_s: float = 60.0
    route: list[tuple[float, float]] = field(default_factory=lambda: list(BRNO_ROUTE))
    name: str = "simulate"

    def __post_init__(self) -> None:
        if self.start_ms is None:
            self.start_ms = time.time_ns() // 1_000_000
        legs = [_distance_m(a, b) for a, b in zip(self.route, self.route[1:], strict=False)]
        self._legs = legs
        speed = self.truck_kmh / 3.6
        self._lap_s = sum(d / speed + self.stop_s for d in legs)

    # -- the truck -------------------------------------------------------------------------------
    def truck_at(self, t: float) -> tuple[float, float, float, float]:
        """(along-track metres driven, lat, lon, speed m/s) at ``t`` seconds into the simulation."""
        speed = self.truck_kmh / 3.6
        lap, t_in = divmod(t, self._lap_s)
        driven = lap * sum(self._legs)
        for (a, b), leg in zip(zip(self.route, self.route[1:], strict=False), self._legs, strict=True):
            if t_in < self.stop_s:
                return driven, a[0], a[1], 0.0
            t_in -= self.stop_s
            drive = leg / speed
            if t_in < drive:
                f = t_in / drive
                return driven + leg * f, a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, speed
            t_in -= drive
            driven += leg
        end = self.route[-1]
        return driven, end[0], end[1], 0.0

    async def _clock(self, steps: int) -> AsyncIterator[float]:
        """Simulation seconds 0, 1, 2, ... paced to ``speed``."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        for step in range(steps):
            if self.speed is not None:
                await asyncio.sleep(max(0.0, began + step / self.speed - loop.time()))
            elif step % 10 == 0:
                await asyncio.sleep(0)
            yield float(step)

    def _steps(self) -> int:
        return int(self.duration_s) if self.duration_s is not None else 2**62

    async def fixes(self) -> AsyncIterator[Fix]:
        assert self.start_ms is not None
        async for t in self._clock(self._steps()):
            _, lat, lon, speed = self.truck_at(t)
            yield Fix(
                ts_ms=self.start_ms + int(t * 1000),
                mode=FixMode.THREE_D,
                lat=lat,
                lon=lon,
                alt_m=230.0,
                speed_mps=speed,
                quality=1,
                satellites=9,
                hdop=0.9,
            )

    # -- the crowd -------------------------------------------------------------------------------
    def _phone(self, rng: random.Random, t: float, at: float, crew: bool = False) -> _Phone:
        randomized = not crew and rng.random() < 0.75
        mac = self._random_mac(rng) if randomized else rng.choice(_OUIS) + rng.randbytes(3)
        dwell = not crew and rng.random() < self.dwell_share
        walk = 0.0 if dwell or crew else rng.choice((-1, 1)) * rng.uniform(1.0, 1.6)
        return _Phone(
            pos=at if crew else at + rng.uniform(-80, 80),
            lateral=rng.uniform(0.5, 1.5) if crew else rng.uniform(2, 15),
            walk=walk,
            leaves_at=t + rng.uniform(120, 900) if dwell else math.inf,
            wifi_mac=mac,
            randomized=randomized,
            rotates_per_burst=randomized and rng.random() < 0.5,
            model=rng.randrange(6),
            next_burst=t + rng.uniform(0, 60),
            ble=crew or rng.random() < 0.8,
            ble_key=rng.randbytes(8),
            crew=crew,
        )

    @staticmethod
    def _random_mac(rng: random.Random) -> bytes:
        first = (rng.randrange(256) | 0x02) & 0xFE  # locally administered, unicast
        return bytes([first]) + rng.randbytes(5)

    @staticmethod
    def _rssi(rng: random.Random, distance: float) -> int:
        return round(-40 - 27 * math.log10(max(distance, 0.5)) + rng.gauss(0, 4))

    async def sightings(self) -> AsyncIterator[Sighting]:
        assert self.start_ms is not None
        rng = random.Random(self.seed)
        phones: list[_Phone] = []
        crew = [self._phone(rng, 0, 0, crew=True) for _ in range(self.crew)]
        async for t in self._clock(self._steps()):
            truck_pos = self.truck_at(t)[0]
            for c in crew:
                c.pos = truck_pos
            for _ in range(self._poisson(rng, self.arrivals_per_min / 60)):
                phones.append(self._phone(rng, t, truck_pos))
            phones = [p for p in phones if t < p.leaves_at and abs(p.pos - truck_pos) < 150]
            out: list[Sighting] = []
            for p in [*phones, *crew]:
                p.pos += p.walk
                distance = math.hypot(p.pos - truck_pos, p.lateral)
                out.extend(self._emit(rng, p, t, distance))
            out.sort(key=lambda s: s.ts_ms)
            for s in out:
                yield s

    def _emit(self, rng: random.Random, p: _Phone, t: float, distance: float) -> list[Sighting]:
        assert self.start_ms is not None
        out: list[Sighting] = []
        base_ms = self.start_ms + int(t * 1000)
        if t >= p.next_burst:
            p.next_burst = t + rng.uniform(20, 90)
            if p.rotates_per_burst:
                p.wifi_mac = self._random_mac(rng)
            directed = rng.random() < 0.1
            fingerprint = hashlib.blake2b(f"model-{p.model}".encode(), digest_size=16).digest()
            for k in range(rng.randint(2, 4)):
                rssi = self._rssi(rng, distance)
                if rssi >= -100:
                    out.append(Sighting(base_ms + rng.randrange(0, 40) + 20 * k, Kind.WIFI, p.wifi_mac, rssi,
                                        p.randomized, directed, fingerprint))  # fmt: skip
        if p.ble and rng.random() < 0.5:
            rssi = self._rssi(rng, distance)
            if rssi >= -100:
                # Phones: a resolvable private address (top bits 01) that changes every 15 minutes;
                # the crew's gear: a fixed public address.
                epoch = b"" if p.crew else str(int(t // 900)).encode()
                digest = hashlib.blake2b(p.ble_key + epoch, digest_size=6).digest()
                address = digest if p.crew else bytes([(digest[0] & 0x3F) | 0x40]) + digest[1:]
                out.append(Sighting(base_ms + rng.randrange(0, 1000), Kind.BLE, address, rssi, not p.crew))
        return out

    @staticmethod
    def _poisson(rng: random.Random, lam: float) -> int:
        """Knuth's method; fine for the small per-second rates used here."""
        limit, k, prod = math.exp(-lam), 0, rng.random()
        while prod > limit:
            k += 1
            prod *= rng.random()
        return k
