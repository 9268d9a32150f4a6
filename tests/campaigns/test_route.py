"""The GPS route of an asset over a campaign window, end to end: the scenario's telemetry goes
MQTT -> bridge -> DB -> route rollup -> /v1 API (late and duplicated batches included) and the
route equals the scenario's known positions at minute resolution; the board sensors swapped at
mid-shift put every fix on the board they were mounted on at that moment. Runs on Mosquitto +
PostgreSQL and on amqtt + SQLite (the `cloud` fixture of tests/cloud)."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from cloud.api.app import create_app
from cloud.auth.models import Scope
from cloud.auth.service import create_token
from cloud.core.config import Settings
from cloud.core.types import utcnow
from cloud.ingest.models import TelemetryBatch
from tests.analytics.scenario import BOARD_XY, END, MIN, T0, TMID, TZ, Scenario, to_e6
from tests.campaigns.conftest import h
from tests.campaigns.test_ground_truth_ingest import telemetry_messages
from tests.campaigns.world_setup import build_world, iso

Point = tuple[int, int, int]  # ts_ms, lat_e6, lon_e6


def truth(sc: Scenario, asset: str, lo: int, hi: int) -> list[Point]:
    """Per UTC minute, the first moment a sensor really on `asset` reported, and where the asset
    really was then (the truck's path, a board's place); minutes whose first fix is in [lo, hi)."""
    first: dict[int, int] = {}
    for s in sc.sightings:
        if s.asset == asset:
            m = s.ts - s.ts % MIN
            first[m] = min(first.get(m, s.ts), s.ts)
    out = []
    for ts in sorted(first.values()):
        if lo <= ts < hi:
            x, y = sc.truck.xy(ts) if asset == "truck-1" else BOARD_XY[asset]
            out.append((ts, *to_e6(x, y)))
    return out


def from_geojson(body: dict) -> list[Point]:
    if not body["features"]:
        return []
    (f,) = body["features"]
    coords = f["geometry"]["coordinates"]
    coords = coords if f["geometry"]["type"] == "LineString" else [coords]
    times = f["properties"]["times"]
    assert len(times) == len(coords) == f["properties"]["points"]
    return [
        (int(datetime.fromisoformat(t).timestamp() * 1000), round(lat * 1e6), round(lon * 1e6))
        for t, (lon, lat) in zip(times, coords, strict=True)
    ]


def from_csv(text: str) -> list[Point]:
    lines = text.strip().splitlines()
    assert lines[0] == "ts,lat,lon"
    out = []
    for line in lines[1:]:
        t, lat, lon = line.split(",")
        out.append(
            (
                int(datetime.fromisoformat(t).timestamp() * 1000),
                round(float(lat) * 1e6),
                round(float(lon) * 1e6),
            )
        )
    return out


async def test_route_equals_the_known_positions_through_the_real_ingest(cloud) -> None:
    sc = Scenario(seed=1)
    with Session(cloud.engine) as s:
        _, ops = create_token(s, name="ops", scope=Scope.WRITE, now=utcnow())
        s.commit()
    with TestClient(create_app(cloud.engine, Settings(api_host="0.0.0.0"))) as api:
        build_world(api, h(ops), sc)
        acme = h(api.post("/tenants/acme/keys", json={}, headers=h(ops)).json()["key"])
        rival = h(api.post("/tenants/rival/keys", json={}, headers=h(ops)).json()["key"])

        messages, unique = telemetry_messages(sc)
        async with cloud.client("route-sensors") as c:
            for topic, payload in messages:
                await c.publish(topic, payload, qos=1)

        def stored(session: Session) -> bool:
            return session.scalar(select(func.count()).select_from(TelemetryBatch)) == unique

        await cloud.wait_for(stored, within=60)

        def route(cid: str, asset: str, key: dict[str, str] = acme, **params: object):  # type: ignore[no-untyped-def]
            return api.get(f"/v1/campaigns/{cid}/assets/{asset}/route", params=params, headers=key)

        # the truck over the whole campaign window, in the campaign's zone across the fall-back
        r = route("truck-zones", "truck-1", tz=TZ)
        assert r.status_code == 200, r.text
        body = r.json()
        want = truth(sc, "truck-1", T0, END)
        assert len(want) > 300
        assert from_geojson(body) == want
        props = body["features"][0]["properties"]
        assert props["times"][0].endswith("+02:00")
        assert props["times"][-1].endswith("+01:00")
        assert props["points_in_window"] == len(want)
        # CSV: the same points
        csv_r = route("truck-zones", "truck-1", tz=TZ, format="csv")
        assert csv_r.headers["content-type"].startswith("text/csv")
        assert from_csv(csv_r.text) == want

        # a sub-window with explicit offsets
        lo, hi = T0 + 2 * 3600_000, T0 + 3 * 3600_000 + 7 * MIN
        r = route("truck-zones", "truck-1", start=iso(lo), end="2024-10-27T02:07:00+01:00")
        assert datetime.fromisoformat("2024-10-27T02:07:00+01:00").timestamp() * 1000 == hi
        assert from_geojson(r.json()) == truth(sc, "truck-1", lo, hi)

        # sensors swapped between the boards at TMID: board-1's route is board-1's place only,
        # from s-a before the swap and s-b after; board-2 runs "boards" from T0 + 1 h only
        for asset, lo in (("board-1", T0), ("board-2", T0 + 3600_000)):
            got = from_geojson(route("boards", asset).json())
            want = truth(sc, asset, lo, END)
            assert got == want
            assert {(la, lo_) for _, la, lo_ in got} == {to_e6(*BOARD_XY[asset])}
            assert any(t < TMID for t, _, _ in got)
            assert any(t >= TMID for t, _, _ in got)

        # downsampled to a bounded number of points, the ends kept
        full = truth(sc, "truck-1", T0, END)
        thin = from_geojson(route("truck-zones", "truck-1", max_points=50).json())
        assert len(thin) == 50
        assert thin[0] == full[0]
        assert thin[-1] == full[-1]
        assert set(thin) <= set(full)
        assert from_csv(route("truck-zones", "truck-1", max_points=50, format="csv").text) == thin

        # another tenant: the same 404 as a campaign that does not exist, in both formats
        for fmt in ("geojson", "csv"):
            theirs = route("truck-zones", "truck-1", rival, format=fmt)
            missing = route("no-such", "truck-1", rival, format=fmt)
            assert theirs.status_code == missing.status_code == 404
            assert theirs.json()["detail"].replace("truck-zones", "?") == missing.json()["detail"].replace(
                "no-such", "?"
            )
        # an asset that does not run the campaign
        assert route("screen", "truck-1").status_code == 404
        # an unknown time zone
        assert route("truck-zones", "truck-1", tz="Mars/Olympus").status_code == 422
