"""The REST API on SQLite and PostgreSQL: registry queries, lifecycle, shadow validation, auth."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.api.app import create_app
from cloud.auth.models import Scope
from cloud.auth.service import create_token
from cloud.core.config import Settings
from cloud.core.types import utcnow
from cloud.ingest.rows import ObsRow
from cloud.ingest.store import Batch, ingest
from cloud.registry.models import Device
from cloud.shadow.models import ConfigShadow


@pytest.fixture
def tokens(engine: Engine) -> dict[str, str]:
    with Session(engine) as s:
        _, read = create_token(s, name="viewer", scope=Scope.READ, now=utcnow())
        _, write = create_token(s, name="ops", scope=Scope.WRITE, now=utcnow())
        s.commit()
    return {"read": read, "write": write}


@pytest.fixture
def api(engine: Engine) -> Iterator[TestClient]:
    """An API that listens on a public address: every route needs a token."""
    with TestClient(create_app(engine, Settings(api_host="0.0.0.0"))) as client:
        yield client


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _seed(engine: Engine) -> None:
    with Session(engine) as s:
        for i in range(12):
            s.add(
                Device(
                    id=f"dev-{i:02d}",
                    hardware="esp32" if i % 2 else "rpi",
                    status="online" if i < 5 else "offline",
                    serial=f"SN{i:04d}",
                    labels={"fleet": "vienna" if i < 4 else "graz"}
                    | ({"depot.gate/n-2": "1"} if i == 7 else {}),
                    created_at=utcnow(),
                )
            )
        s.commit()


def test_reads_need_a_token_off_loopback_and_get_reasons(api: TestClient, tokens: dict[str, str]) -> None:
    r = api.get("/devices")
    assert r.status_code == 401
    assert "missing bearer token" in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = api.get("/devices", headers=_h("mob_not-a-real-token"))
    assert (r.status_code, r.json()["detail"]) == (401, "unknown token")
    assert api.get("/devices", headers=_h(tokens["read"])).status_code == 200


def test_writes_need_the_write_scope(api: TestClient, tokens: dict[str, str]) -> None:
    body = {"id": "new-001", "hardware": "rpi"}
    r = api.post("/devices", json=body, headers=_h(tokens["read"]))
    assert r.status_code == 403
    assert "scope 'read'" in r.json()["detail"]
    r = api.post("/devices", json=body, headers=_h(tokens["write"]))
    assert r.status_code == 201
    assert r.json()["state"] == "provisioned"


def test_tokens_are_stored_hashed(engine: Engine, tokens: dict[str, str]) -> None:
    from sqlmodel import select

    from cloud.auth.models import ApiToken

    with Session(engine) as s:
        stored = [t.token_hash for t in s.exec(select(ApiToken))]
    assert tokens["write"] not in stored
    assert all(len(h) == 64 for h in stored)


def test_list_filters_searches_and_paginates(engine: Engine, api: TestClient, tokens: dict[str, str]) -> None:
    _seed(engine)
    h = _h(tokens["read"])
    page = api.get("/devices", params={"limit": 5, "offset": 5}, headers=h).json()
    assert page["total"] == 12
    assert [d["id"] for d in page["items"]] == [f"dev-{i:02d}" for i in range(5, 10)]
    online = api.get("/devices", params={"status": "online", "hardware": "esp32"}, headers=h).json()
    assert [d["id"] for d in online["items"]] == ["dev-01", "dev-03"]
    found = api.get("/devices", params={"q": "sn0011"}, headers=h).json()
    assert [d["id"] for d in found["items"]] == ["dev-11"]
    vienna = api.get("/devices", params={"label": "fleet=vienna"}, headers=h).json()
    assert vienna["total"] == 4
    graz = api.get("/devices", params={"label": "fleet=graz", "limit": 3, "offset": 6}, headers=h).json()
    assert (graz["total"], [d["id"] for d in graz["items"]]) == (8, ["dev-10", "dev-11"])
    assert api.get("/devices", params={"label": "fleet"}, headers=h).json()["total"] == 12
    dotted = api.get("/devices", params={"label": "depot.gate/n-2=1"}, headers=h).json()
    assert [d["id"] for d in dotted["items"]] == ["dev-07"]
    bad = api.get("/devices", params={"label": 'x"]=1'}, headers=h)
    assert (bad.status_code, bad.json()["detail"][0]["loc"]) == (422, ["query", "label"])
    assert api.get("/devices", params={"label": "fleet=linz"}, headers=h).json()["total"] == 0
    assert api.get("/devices/dev-03", headers=h).json()["serial"] == "SN0003"
    assert api.get("/devices/nope", headers=h).status_code == 404
    assert api.get("/devices", params={"status": "dancing"}, headers=h).status_code == 422


def test_state_changes_follow_the_lifecycle(engine: Engine, api: TestClient, tokens: dict[str, str]) -> None:
    _seed(engine)
    h = _h(tokens["write"])
    r = api.patch("/devices/dev-01", json={"state": "quarantined", "labels": {"x": "y"}}, headers=h)
    assert (r.status_code, r.json()["state"], r.json()["labels"]) == (200, "quarantined", {"x": "y"})
    r = api.patch("/devices/dev-01", json={"labels": {'route "7"': "y"}}, headers=h)
    assert r.status_code == 422
    assert "should match pattern" in r.text
    assert api.patch("/devices/dev-01", json={"state": "retired"}, headers=h).json()["state"] == "retired"
    r = api.patch("/devices/dev-01", json={"state": "active"}, headers=h)
    assert r.status_code == 409
    r = api.patch("/devices/dev-02", json={"sleep_schedule": ["25:00-06:00"]}, headers=h)
    assert r.status_code == 422


def test_desired_config_is_validated_per_hardware_kind_and_versioned(
    engine: Engine, api: TestClient, tokens: dict[str, str]
) -> None:
    _seed(engine)
    h = _h(tokens["write"])
    # dev-01 is an ESP32: an RPi-only setting is refused with the reason.
    r = api.put("/devices/dev-01/config/desired", json={"config": {"outbox_max_mb": 10}}, headers=h)
    assert r.status_code == 422
    assert "outbox_max_mb" in r.json()["detail"][0]["msg"]
    r = api.put("/devices/dev-01/config/desired", json={"config": {"heartbeat_s": 1}}, headers=h)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == "heartbeat_s"
    r = api.put(
        "/devices/dev-01/config/desired", json={"config": {"heartbeat_s": 30, "scan_ms": 1000}}, headers=h
    )
    assert r.status_code == 200
    assert r.json()["desired_version"] == 1
    r = api.put(
        "/devices/dev-01/config/desired", json={"config": {"heartbeat_s": 60, "scan_ms": 1000}}, headers=h
    )
    assert r.json()["desired_version"] == 2
    with Session(engine) as s:
        shadow = s.get(ConfigShadow, "dev-01")
        assert shadow is not None
        shadow.reported, shadow.reported_version = {"heartbeat_s": 30, "scan_ms": 1000}, 1
        s.add(shadow)
        s.commit()
    delta = api.get("/devices/dev-01/config/delta", headers=h).json()
    assert delta == {"desired_version": 2, "reported_version": 1, "delta": {"heartbeat_s": 60}}


def test_gaps_and_completeness_are_served(engine: Engine, api: TestClient, tokens: dict[str, str]) -> None:
    _seed(engine)
    rows = [ObsRow(0, "w", "00000000000000aa", -60, 0, None, None)]
    with engine.begin() as conn:
        ingest(
            conn,
            [Batch("dev-01", "abcdef01", n, n, 1_700_000_000_000 + n, rows) for n in (0, 1, 4)],
            now=utcnow(),
        )
    h = _h(tokens["read"])
    gaps = api.get("/devices/dev-01/telemetry/gaps", params={"open": True}, headers=h).json()
    assert [(g["first_batch"], g["last_batch"], g["missing"]) for g in gaps] == [(2, 3, 2)]
    c = api.get(
        "/devices/dev-01/telemetry/completeness",
        params={"since": "2023-11-14T00:00:00Z", "until": "2023-11-16T00:00:00Z"},
        headers=h,
    ).json()
    assert (c["received"], c["expected"], c["completeness"]) == (3, 5, 0.6)


def test_metrics_expose_fleet_and_ingest_figures(
    engine: Engine, api: TestClient, tokens: dict[str, str]
) -> None:
    _seed(engine)
    text = api.get("/metrics").text
    assert 'mobilytics_devices{status="online"} 5.0' in text
    assert "mobilytics_ingest_open_gaps" in text
    assert "mobilytics_heartbeat_lag_seconds_bucket" in text
    assert "mobilytics_dead_letters" in text


def test_loopback_api_serves_reads_without_a_token_but_never_writes(engine: Engine) -> None:
    with TestClient(create_app(engine, Settings(api_host="127.0.0.1"))) as client:
        assert client.get("/devices").status_code == 200
        assert client.post("/devices", json={"id": "x-001"}).status_code == 401


def test_the_grafana_dashboard_charts_only_metrics_the_cloud_exports(
    engine: Engine, api: TestClient, tokens: dict[str, str]
) -> None:
    import json
    import re
    from pathlib import Path

    import cloud.observability

    dash = json.loads((Path(cloud.observability.__file__).parent / "grafana-dashboard.json").read_text())
    suffixes = {"counter": ["", "_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    exposed = {
        name + suffix
        for line in api.get("/metrics").text.splitlines()
        if line.startswith("# TYPE ")
        for name, kind in [line.split()[2:4]]
        for suffix in suffixes.get(kind, [""])
    }
    used = {
        m for p in dash["panels"] for t in p["targets"] for m in re.findall(r"mobilytics_[a-z_]+", t["expr"])
    }
    assert used
    assert used <= exposed, used - exposed
