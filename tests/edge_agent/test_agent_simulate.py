"""The simulation is reproducible and shaped like the traffic it stands for."""

from __future__ import annotations

import itertools
import time
from collections import Counter

from edge_agent.gps.fix import FixMode
from edge_agent.sighting import Kind
from edge_agent.sources.simulate import BRNO_ROUTE, Simulation, _distance_m


async def run(sim: Simulation) -> list:
    return [s async for s in sim.sightings()]


async def test_same_seed_same_world_other_seed_other_world() -> None:
    a = await run(Simulation(seed=7, start_ms=1_700_000_000_000, speed=None, duration_s=600))
    b = await run(Simulation(seed=7, start_ms=1_700_000_000_000, speed=None, duration_s=600))
    c = await run(Simulation(seed=8, start_ms=1_700_000_000_000, speed=None, duration_s=600))
    assert a == b
    assert a != c


async def test_traffic_shape() -> None:
    sim = Simulation(seed=3, start_ms=1_700_000_000_000, speed=None, duration_s=1800, arrivals_per_min=30)
    got = await run(sim)
    wifi = [s for s in got if s.kind == Kind.WIFI]
    ble = [s for s in got if s.kind == Kind.BLE]
    assert len(wifi) > 500
    assert len(ble) > 500
    assert all(-100 <= s.rssi <= -20 for s in got)
    assert all(s.randomized == bool(s.address[0] & 0x02) for s in wifi)
    randomized_share = sum(s.randomized for s in wifi) / len(wifi)
    assert 0.5 < randomized_share < 0.95
    # The crew's phones are heard all shift long, strongly: their addresses appear in every 5 minutes.
    public = Counter(s.address for s in got if not s.randomized)
    crew = [a for a, _ in public.most_common(sim.crew * 2)]
    for start in range(0, 1800, 300):
        window = {
            s.address for s in got if start * 1000 <= s.ts_ms - 1_700_000_000_000 < (start + 300) * 1000
        }
        assert set(crew[: sim.crew]) <= window
    assert 0.03 < sum(s.directed for s in wifi) / len(wifi) < 0.25
    # BLE private addresses rotate: a phone present 30 minutes shows up under more than one.
    assert len({s.address for s in ble if s.randomized}) > len({s.fingerprint for s in wifi})


async def test_truck_follows_the_route_and_paces_to_speed() -> None:
    sim = Simulation(seed=1, start_ms=0, speed=None, duration_s=3600, stop_s=30)
    fixes = [f async for f in sim.fixes()]
    assert len(fixes) == 3600
    assert all(f.mode == FixMode.THREE_D for f in fixes)
    assert fixes[0].lat == BRNO_ROUTE[0][0]
    assert fixes[0].speed_mps == 0.0  # the first stop
    moving = [f for f in fixes if f.speed_mps]
    assert moving
    assert abs(moving[0].speed_mps * 3.6 - 25) < 1e-9
    for a, b in itertools.pairwise(fixes):
        assert _distance_m((a.lat, a.lon), (b.lat, b.lon)) < 8  # 25 km/h is ~7 m/s
    paced = Simulation(seed=1, start_ms=0, speed=20.0, duration_s=10)
    began = time.monotonic()
    assert len([f async for f in paced.fixes()]) == 10
    assert 0.4 < time.monotonic() - began < 1.5
