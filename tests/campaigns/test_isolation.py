"""Tenant isolation: every /v1 endpoint called with another tenant's key reveals nothing (the same
404 as for a campaign that does not exist); agencies see the campaigns they run; tenant keys open no
ops route; scopes are enforced; keys are stored hashed."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session

from cloud.analytics.sql.update import apply_observations
from cloud.auth.models import ApiToken
from tests.analytics.scenario import Scenario
from tests.campaigns.conftest import h
from tests.campaigns.world_setup import build_world


def _fill(path: str, campaign_id: str) -> str:
    ids = {"{campaign_id}": campaign_id, "{asset_id}": "board-1"}  # board-1 runs "boards"
    return re.sub(r"\{[^}]+\}", lambda m: ids.get(m.group(0), "x"), path)


def test_other_tenants_see_nothing(engine: Engine, api: TestClient, ops_tokens) -> None:
    sc = Scenario(seed=2, walkers=30, lingerers=10, waiters=10)
    w = h(ops_tokens["write"])
    build_world(api, w, sc)
    with engine.begin() as conn:
        apply_observations(conn, [(o[0], "b", 0, *o[1:]) for b in sc.batches() for o in b])
    assert (
        api.post("/tenants", json={"id": "agency-x", "name": "X", "kind": "agency"}, headers=w).status_code
        == 201
    )
    assert api.patch("/campaigns/boards", json={"agency_id": "agency-x"}, headers=w).status_code == 200
    keys = {
        t: api.post(f"/tenants/{t}/keys", json={}, headers=w).json()["key"]
        for t in ("acme", "rival", "agency-x")
    }
    only_campaigns = api.post("/tenants/acme/keys", json={"scopes": ["campaigns:read"]}, headers=w).json()[
        "key"
    ]

    paths = [p for p in api.app.openapi()["paths"] if p.startswith("/v1/campaigns/{campaign_id}")]
    assert len(paths) >= 3
    for p in paths:
        own = api.get(_fill(p, "boards"), headers=h(keys["acme"]))
        assert own.status_code == 200, (p, own.text)
        for cid in ("boards", "screen", "truck-zones"):
            theirs = api.get(_fill(p, cid), headers=h(keys["rival"]), params={"format": "csv"})
            missing = api.get(_fill(p, "no-such"), headers=h(keys["rival"]), params={"format": "csv"})
            assert theirs.status_code == missing.status_code == 404, p
            assert theirs.json()["detail"].replace(cid, "?") == missing.json()["detail"].replace(
                "no-such", "?"
            )
        # the agency sees the one campaign it runs, and only that one
        assert api.get(_fill(p, "boards"), headers=h(keys["agency-x"])).status_code == 200
        assert api.get(_fill(p, "screen"), headers=h(keys["agency-x"])).status_code == 404
    listed = {
        t: [c["id"] for c in api.get("/v1/campaigns", headers=h(k)).json()["items"]] for t, k in keys.items()
    }
    assert listed == {
        "acme": ["boards", "screen", "truck-zones"],
        "rival": ["rival-c"],
        "agency-x": ["boards"],
    }
    page = api.get("/v1/campaigns", params={"limit": 2, "offset": 2}, headers=h(keys["acme"])).json()
    assert page["total"] == 3
    assert [c["id"] for c in page["items"]] == ["truck-zones"]
    # the rival's report on its own (empty) campaign is empty, not someone else's numbers
    assert api.get("/v1/campaigns/rival-c/report", headers=h(keys["rival"])).json()["rows"] == []
    # scopes: a campaigns-only key cannot read reports
    assert api.get("/v1/campaigns/boards/report", headers=h(only_campaigns)).status_code == 403
    assert api.get("/v1/campaigns/boards", headers=h(only_campaigns)).status_code == 200
    # no key, a bad key: 401 even though reads of the ops API may be open on loopback
    assert api.get("/v1/campaigns").status_code == 401
    assert api.get("/v1/campaigns", headers=h("mob_nope")).status_code == 401
    # tenant keys open no ops route
    for p, methods in api.app.openapi()["paths"].items():
        if p.startswith("/v1") or p in ("/health", "/metrics"):
            continue
        for m in methods:
            url = _fill(p, "boards").replace("/x", "/1")
            if api.request(m.upper(), url, json={}).status_code != 401:
                continue  # a public route (signed OTA metadata and artifacts): no key opens more of it
            r = api.request(m.upper(), url, headers=h(keys["acme"]), json={})
            assert r.status_code == 403, (m, p, r.status_code)
    # keys are stored hashed
    with Session(engine) as s:
        stored = {t.token_hash for t in s.exec(select(ApiToken)).scalars()}
    assert not any(k in stored for k in keys.values())
