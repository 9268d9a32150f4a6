"""Ops CRUD of the campaign world on SQLite and PostgreSQL: tenants, assets, campaigns, windows,
zones (GeoJSON in and out), device history (moves close the open mount), shipments, keys."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.analytics.scenario import zone_geojson
from tests.campaigns.conftest import h


def test_crud_round_trip(api: TestClient, ops_tokens: dict[str, str]) -> None:
    w = h(ops_tokens["write"])
    assert (
        api.post("/tenants", json={"id": "acme", "name": "Acme", "kind": "advertiser"}, headers=w).status_code
        == 201
    )
    assert (
        api.post("/tenants", json={"id": "acme", "name": "Acme", "kind": "advertiser"}, headers=w).status_code
        == 409
    )
    assert (
        api.post(
            "/tenants", json={"id": "ops-co", "name": "Trucks", "kind": "media_operator"}, headers=w
        ).status_code
        == 201
    )
    r = api.post(
        "/assets", json={"id": "truck-1", "name": "T1", "kind": "vehicle", "operator_id": "ops-co"}, headers=w
    )
    assert r.status_code == 201, r.text
    assert (
        api.post(
            "/assets", json={"id": "b", "name": "B", "kind": "billboard", "operator_id": "nope"}, headers=w
        ).status_code
        == 422
    )
    r = api.post(
        "/campaigns",
        json={"id": "c1", "name": "C1", "advertiser_id": "acme", "timezone": "Europe/Prague"},
        headers=w,
    )
    assert r.status_code == 201, r.text
    assert r.json()["k"] == 5
    assert r.json()["rule"] == "dedup_window"
    bad = api.post(
        "/campaigns",
        json={"id": "c2", "name": "C", "advertiser_id": "acme", "timezone": "Mars/Base"},
        headers=w,
    )
    assert bad.status_code == 422
    naive = api.post(
        "/campaigns/c1/assets",
        json={"asset_id": "truck-1", "starts_at": "2024-10-27T00:00:00", "ends_at": "2024-10-28T00:00:00"},
        headers=w,
    )
    assert naive.status_code == 422  # time zones are explicit
    r = api.post(
        "/campaigns/c1/assets",
        json={
            "asset_id": "truck-1",
            "starts_at": "2024-10-27T00:00:00+02:00",
            "ends_at": "2024-10-28T00:00:00+01:00",
        },
        headers=w,
    )
    assert r.status_code == 201, r.text
    assert api.get("/campaigns/c1/assets", headers=w).json()[0]["starts_at"].startswith("2024-10-26T22:00:00")
    r = api.post(
        "/campaigns/c1/zones", json={"id": "old-town", "geometry": zone_geojson("old-town")}, headers=w
    )
    assert r.status_code == 201, r.text
    assert r.json()["geometry"]["type"] == "MultiPolygon"
    r = api.post(
        "/campaigns/c1/zones",
        json={"id": "bad", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}},
        headers=w,
    )
    assert r.status_code == 422
    assert "ring" in r.text
    # a move is one call: the open mount ends where the next begins
    m1 = api.post(
        "/device-history",
        json={"device_id": "s-1", "asset_id": "truck-1", "mounted_at": "2024-10-27T00:00:00Z"},
        headers=w,
    )
    assert m1.status_code == 201, m1.text
    assert (
        api.post("/assets", json={"id": "board-1", "name": "B1", "kind": "billboard"}, headers=w).status_code
        == 201
    )
    m2 = api.post(
        "/device-history",
        json={"device_id": "s-1", "asset_id": "board-1", "mounted_at": "2024-10-27T03:00:00Z"},
        headers=w,
    )
    assert m2.status_code == 201
    hist = api.get("/device-history", params={"device_id": "s-1"}, headers=w).json()
    assert hist["total"] == 2
    assert hist["items"][0]["unmounted_at"].startswith("2024-10-27T03:00:00")
    again = api.post(
        "/device-history",
        json={
            "device_id": "s-1",
            "asset_id": "truck-1",
            "mounted_at": "2024-10-27T01:00:00Z",
            "unmounted_at": "2024-10-27T02:00:00Z",
        },
        headers=w,
    )
    assert again.status_code == 409
    s = api.post(
        "/shipments",
        json={"device_id": "s-1", "partner_id": "ops-co", "sent_at": "2024-10-20T10:00:00Z"},
        headers=w,
    ).json()
    assert (
        api.patch(
            f"/shipments/{s['id']}", json={"status": "installed", "at": "2024-10-21T10:00:00Z"}, headers=w
        ).status_code
        == 409
    )
    r = api.patch(
        f"/shipments/{s['id']}", json={"status": "received", "at": "2024-10-21T10:00:00Z"}, headers=w
    )
    assert r.json()["status"] == "received"
    key = api.post("/tenants/acme/keys", json={"scopes": ["reports:read"]}, headers=w)
    assert key.status_code == 201
    assert key.json()["key"].startswith("mob_")
    # a tenant key opens nothing of the ops API
    assert api.get("/devices", headers=h(key.json()["key"])).status_code == 403
    assert api.get("/campaigns", headers=h(key.json()["key"])).status_code == 403
    page = api.get("/campaigns", params={"limit": 1}, headers=h(ops_tokens["read"])).json()
    assert page["total"] == 1
    assert page["limit"] == 1
