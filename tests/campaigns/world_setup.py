"""The scenario's campaign world (tests/analytics/scenario.py) written through the ops API."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.analytics.scenario import (
    CAMPAIGNS,
    MOUNTS,
    PASSERBY_RSSI,
    TZ,
    ZONE_RECTS,
    Scenario,
    spots,
    zone_geojson,
)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def build_world(api: TestClient, headers: dict[str, str], sc: Scenario) -> None:
    def post(path: str, body: object) -> None:
        r = api.post(path, json=body, headers=headers)
        assert r.status_code == 201, (path, r.text)

    post("/tenants", {"id": "acme", "name": "Acme", "kind": "advertiser"})
    post("/tenants", {"id": "rival", "name": "Rival", "kind": "advertiser"})
    post("/tenants", {"id": "trucks-co", "name": "Trucks", "kind": "media_operator"})
    post("/assets", {"id": "truck-1", "name": "Truck 1", "kind": "vehicle", "operator_id": "trucks-co"})
    post("/assets", {"id": "board-1", "name": "Board 1", "kind": "billboard"})
    post("/assets", {"id": "board-2", "name": "Board 2", "kind": "screen"})
    for cid, (rule, exposure, zoned, runs) in CAMPAIGNS.items():
        post(
            "/campaigns",
            {
                "id": cid,
                "name": cid,
                "advertiser_id": "acme",
                "rule": rule,
                "exposure_rssi": exposure,
                "passerby_rssi": PASSERBY_RSSI,
                "timezone": TZ,
            },
        )
        for asset, s, e in runs:
            post(f"/campaigns/{cid}/assets", {"asset_id": asset, "starts_at": iso(s), "ends_at": iso(e)})
        if zoned:
            for z in ZONE_RECTS:
                post(f"/campaigns/{cid}/zones", {"id": z, "name": z, "geometry": zone_geojson(z)})
        if rule == "digital_spots":
            post(
                f"/campaigns/{cid}/spots",
                [{"asset_id": a, "starts_at": iso(s), "ends_at": iso(e)} for a, s, e in spots()],
            )
    post("/campaigns", {"id": "rival-c", "name": "Rival's", "advertiser_id": "rival"})
    # mounts in time order: the swap at mid-shift closes the open mounts
    for dev, asset, start, until in sorted(MOUNTS, key=lambda m: m[2]):
        body = {"device_id": dev, "asset_id": asset, "mounted_at": iso(start)}
        if until is not None:
            body["unmounted_at"] = iso(until)
        post("/device-history", body)
    for hid in sc.infrastructure:
        post("/infrastructure", {"hid": hid, "note": "router by board-1"})
