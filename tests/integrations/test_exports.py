"""Partner exports to a real S3 API over HTTP (moto's server) with the real boto3 client."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime

import boto3
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert
from sqlmodel import Session, select

from cloud.analytics.sql.tables import impression
from cloud.api.app import create_app
from cloud.campaigns.models import Campaign, ExposureZone, Tenant
from cloud.core.config import Settings
from cloud.exports import callbacks
from cloud.exports.artifacts import campaign_key, rekey
from cloud.exports.config import ExportSettings
from cloud.exports.models import PartnerExport
from cloud.exports.partners import day_ms, export_mogean, export_spotzi
from cloud.exports.s3 import ObjectStore
from cloud.exports.sources import ALL, EXPOSED, AnalyticsSource, RollupSource

DAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
START, _ = day_ms(DAY)
ZONE = {"type": "Polygon", "coordinates": [[[16.0, 48.0], [16.1, 48.0], [16.1, 48.1], [16.0, 48.0]]]}


def _s3(s: ExportSettings):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=s.export_s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDMOTO",
        aws_secret_access_key="moto-secret",
    )


def _keys(s: ExportSettings) -> list[str]:
    return sorted(o["Key"] for o in _s3(s).list_objects_v2(Bucket=s.export_s3_bucket).get("Contents", []))


def _get(s: ExportSettings, key: str) -> bytes:
    return _s3(s).get_object(Bucket=s.export_s3_bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]


def _world(engine: Engine, campaign: str = "spring") -> None:
    with Session(engine) as s:
        s.add(Tenant(id="acme", name="ACME", kind="advertiser", created_at=NOW))
        s.flush()
        s.add(Campaign(id=campaign, name=campaign, advertiser_id="acme", created_at=NOW))
        s.flush()
        s.add(ExposureZone(id="prater", campaign_id=campaign, name="Prater", geometry=ZONE))
        s.add(ExposureZone(id="mitte", campaign_id=campaign, name="Mitte", geometry=ZONE))
        s.commit()


def _impressions(
    engine: Engine, campaign: str, zone: str, hids: Sequence[str], *, randomized: bool, hour: int = 9
):
    rows = [
        {
            "campaign_id": campaign,
            "asset_id": "truck-1",
            "zone_id": zone,
            "hid": h,
            "at": START + hour * 3_600_000 + i,
            "grain": START + hour * 3_600_000,
            "n": 1,
            "randomized": randomized,
        }
        for i, h in enumerate(hids)
    ]
    with Session(engine) as s:
        s.execute(insert(impression), rows)
        s.commit()


def _hids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:012x}" for i in range(n)]


def test_mogean_small_segment_is_withheld_and_a_large_one_lands_with_a_matching_manifest(
    engine: Engine, store: ObjectStore, export_settings: ExportSettings
) -> None:
    _world(engine)
    # prater: 150 non-randomized (+ 300 randomized never exported); mitte: 60 non-randomized + 500 randomized.
    _impressions(engine, "spring", "prater", _hids("a1b2", 150), randomized=False)
    _impressions(engine, "spring", "prater", _hids("c3d4", 300), randomized=True)
    _impressions(engine, "spring", "mitte", _hids("e5f6", 60), randomized=False)
    _impressions(engine, "spring", "mitte", _hids("0708", 500), randomized=True)
    rows = export_mogean(
        engine, store, export_settings, RollupSource(), campaign_id="spring", day=DAY, now=NOW
    )
    by_segment = {r.segment: r for r in rows}
    assert set(by_segment) == {ALL, "prater", "mitte"}
    mitte = by_segment["mitte"]
    assert mitte.status == "withheld"
    assert "60 non-randomized ids, fewer than 100" in (mitte.reason or "")
    assert not [k for k in _keys(export_settings) if "/mitte/" in k]
    prater = by_segment["prater"]
    assert prater.status == "complete"
    assert prater.row_count == 150
    manifest = json.loads(_get(export_settings, prater.manifest_key or ""))
    (f,) = manifest["files"]
    body = _get(export_settings, f["key"])
    assert f["sha256"] == hashlib.sha256(body).hexdigest() == prater.objects[f["key"]]
    assert manifest["row_count"] == f["rows"] == 150
    assert manifest["schema_version"] == "mogean-segment/1"
    ids = [r["mobilytics_id"] for r in csv.DictReader(io.StringIO(body.decode()))]
    key = campaign_key(b"mogean-master-secret", "spring")
    assert ids == sorted(rekey(key, h) for h in _hids("a1b2", 150))  # re-keyed, non-randomized only
    assert not set(ids) & {
        rekey(campaign_key(b"mogean-master-secret", "autumn"), h) for h in _hids("a1b2", 150)
    }
    assert by_segment[ALL].row_count == 210  # 150 + 60 non-randomized; randomized never leave
    # Idempotent: running again uploads nothing and changes nothing.
    etag = _s3(export_settings).head_object(Bucket=export_settings.export_s3_bucket, Key=f["key"])["ETag"]
    again = export_mogean(
        engine, store, export_settings, RollupSource(), campaign_id="spring", day=DAY, now=NOW
    )
    assert {r.segment: (r.status, r.attempts) for r in again}["prater"] == ("complete", 1)
    assert (
        _s3(export_settings).head_object(Bucket=export_settings.export_s3_bucket, Key=f["key"])["ETag"]
        == etag
    )


def test_spotzi_zone_hours_csv_and_geojson_with_k_anonymity(
    engine: Engine, store: ObjectStore, export_settings: ExportSettings
) -> None:
    _world(engine)
    _impressions(engine, "spring", "prater", _hids("aa", 12), randomized=False, hour=9)
    _impressions(engine, "spring", "prater", _hids("bb", 3), randomized=False, hour=10)  # 3 devices < k=5
    _impressions(engine, "spring", "mitte", _hids("cc", 7), randomized=True, hour=9)
    row = export_spotzi(
        engine, store, export_settings, RollupSource(), campaign_id="spring", day=DAY, now=NOW
    )
    assert row.status == "complete"
    assert row.row_count == 2
    manifest = json.loads(_get(export_settings, row.manifest_key or ""))
    assert manifest["suppressed_cells"] == 1
    assert manifest["k"] == 5
    files = {f["key"].rsplit("/", 1)[1]: f for f in manifest["files"]}
    table = list(csv.DictReader(io.StringIO(_get(export_settings, files["zone_hours.csv"]["key"]).decode())))
    assert [(r["zone_id"], r["hour_utc"], r["impressions"], r["devices"]) for r in table] == [
        ("mitte", "2026-11-23T09:00:00Z", "7", "7"),
        ("prater", "2026-11-23T09:00:00Z", "12", "12"),
    ]
    geo = json.loads(_get(export_settings, files["zones.geojson"]["key"]))
    assert geo["type"] == "FeatureCollection"
    assert [f["id"] for f in geo["features"]] == ["mitte", "prater"]
    assert geo["features"][1]["geometry"] == ZONE
    for f in manifest["files"]:
        assert hashlib.sha256(_get(export_settings, f["key"])).hexdigest() == f["sha256"]


class BigSegment:
    """A SegmentSource of one large segment (the real interface, fed plain rows)."""

    def __init__(self, n: int) -> None:
        self.ids = [(f"{i:016x}", False) for i in range(n)]

    def segments(self, session: Session, *, campaign_id: str) -> Sequence[str]:
        return ["big"]

    def exposed_ids(self, session: Session, *, campaign_id: str, segment: str, start_ms: int, end_ms: int):  # type: ignore[no-untyped-def]
        return self.ids


class Crash(BaseException):
    """The process dying mid-export (not an Exception: nothing may catch it)."""


def test_a_crash_mid_multipart_export_then_a_rerun_leaves_exactly_one_complete_export(
    engine: Engine, store: ObjectStore, export_settings: ExportSettings
) -> None:
    source = BigSegment(400_000)  # 33 bytes a line: ~13 MB, three 5 MiB parts
    parts: list[tuple[str, int]] = []

    def crash_after_first_part(name: str, n: int) -> None:
        parts.append((name, n))
        if n == 1:
            raise Crash

    with pytest.raises(Crash):
        export_mogean(
            engine,
            store,
            export_settings,
            source,
            campaign_id="spring",
            day=DAY,
            now=NOW,
            on_part=crash_after_first_part,
        )
    with Session(engine) as s:
        (row,) = s.exec(select(PartnerExport)).all()
        assert row.status == "running"
        assert len(row.upload_state) == 1
        (state,) = row.upload_state.values()
        assert list(state["parts"]) == ["1"]
    assert _keys(export_settings) == []  # nothing visible: no object, no manifest
    rows = export_mogean(
        engine,
        store,
        export_settings,
        source,
        campaign_id="spring",
        day=DAY,
        now=NOW,
        on_part=lambda name, n: parts.append((name, n)),
    )
    assert parts == [("segment.csv", 1), ("segment.csv", 2), ("segment.csv", 3)]  # part 1 was not sent again
    (row,) = rows
    assert row.status == "complete"
    assert row.row_count == 400_000
    assert row.attempts == 2
    assert row.upload_state == {}
    base = "mogean/spring/2026-11-23/big/"
    assert _keys(export_settings) == [base + "manifest.json", base + "segment.csv"]
    s3 = _s3(export_settings)
    assert s3.list_multipart_uploads(Bucket=export_settings.export_s3_bucket).get("Uploads", []) == []
    body = _get(export_settings, base + "segment.csv")
    manifest = json.loads(_get(export_settings, base + "manifest.json"))
    assert manifest["files"][0]["sha256"] == hashlib.sha256(body).hexdigest()
    assert body.count(b"\n") == 400_001
    with Session(engine) as s:
        assert len(s.exec(select(PartnerExport)).all()) == 1


def test_access_denied_by_bucket_policy_is_recorded_and_a_later_run_succeeds(
    engine: Engine, store: ObjectStore, export_settings: ExportSettings
) -> None:
    _world(engine)
    _impressions(engine, "spring", "prater", _hids("a1b2", 120), randomized=False)
    bucket = export_settings.export_s3_bucket
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    s3 = _s3(export_settings)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    rows = export_mogean(
        engine, store, export_settings, RollupSource(), campaign_id="spring", day=DAY, now=NOW
    )
    failed = {r.segment: r for r in rows}["prater"]
    assert failed.status == "failed"
    assert (failed.reason or "").startswith("AccessDenied")
    assert "put_object" in (failed.reason or "")
    s3.delete_bucket_policy(Bucket=bucket)
    rows = export_mogean(
        engine, store, export_settings, RollupSource(), campaign_id="spring", day=DAY, now=NOW
    )
    done = {r.segment: r for r in rows}["prater"]
    assert done.status == "complete"
    assert done.attempts == 2
    assert done.reason is None


@pytest.fixture
def api(engine: Engine, export_settings: ExportSettings) -> Iterator[TestClient]:
    with TestClient(create_app(engine, Settings(api_host="0.0.0.0"), export_settings=export_settings)) as c:
        yield c


def test_partner_callbacks_are_hmac_authenticated_and_update_the_export(
    engine: Engine, store: ObjectStore, export_settings: ExportSettings, api: TestClient
) -> None:
    _world(engine)
    _impressions(engine, "spring", "prater", _hids("aa", 12), randomized=False)
    row = export_spotzi(
        engine, store, export_settings, RollupSource(), campaign_id="spring", day=DAY, now=NOW
    )
    body = json.dumps(
        {"manifest_key": row.manifest_key, "status": "ingested", "detail": "loaded 1 row"}
    ).encode()
    secret = export_settings.export_spotzi_callback_secret
    now = int(time.time())

    def call(partner: str, sig: str | None):  # type: ignore[no-untyped-def]
        headers = {callbacks.HEADER: sig} if sig else {}
        return api.post(f"/exports/callbacks/{partner}", content=body, headers=headers)

    assert call("spotzi", None).status_code == 401
    assert call("spotzi", callbacks.sign(body, "wrong-secret", now)).status_code == 401
    assert call("spotzi", callbacks.sign(body, secret, now - 3600)).status_code == 401  # stale
    # Mogean's secret cannot confirm Spotzi's export, nor Spotzi's secret a Mogean callback.
    assert call("mogean", callbacks.sign(body, secret, now)).status_code == 401
    with Session(engine) as s:
        assert s.get(PartnerExport, row.id).status == "complete"  # type: ignore[union-attr]
    r = call("spotzi", callbacks.sign(body, secret, now))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed"
    assert r.json()["partner_detail"] == "loaded 1 row"
    unknown = json.dumps({"manifest_key": "spotzi/nope/manifest.json", "status": "ingested"}).encode()
    assert (
        api.post(
            "/exports/callbacks/spotzi",
            content=unknown,
            headers={callbacks.HEADER: callbacks.sign(unknown, secret, now)},
        ).status_code
        == 404
    )


def test_the_default_source_is_analytics_partner_function(
    engine: Engine, store: ObjectStore, export_settings: ExportSettings
) -> None:
    """Mogean and Spotzi from `exposed_segment`: small segment withheld, large one complete."""
    _world(engine, "spring")
    _world_more(engine, "autumn")
    _impressions(engine, "spring", "prater", _hids("a1b2", 150), randomized=False)
    _impressions(engine, "spring", "prater", _hids("c3d4", 300), randomized=True)
    _impressions(engine, "autumn", "", _hids("e5f6", 99), randomized=False)
    source = AnalyticsSource()
    (small,) = export_mogean(engine, store, export_settings, source, campaign_id="autumn", day=DAY, now=NOW)
    assert small.segment == EXPOSED
    assert small.status == "withheld"
    assert "99 non-randomized ids, fewer than 100" in (small.reason or "")
    (large,) = export_mogean(engine, store, export_settings, source, campaign_id="spring", day=DAY, now=NOW)
    assert large.status == "complete"
    assert large.row_count == 150
    manifest = json.loads(_get(export_settings, large.manifest_key or ""))
    body = _get(export_settings, manifest["files"][0]["key"])
    assert manifest["files"][0]["sha256"] == hashlib.sha256(body).hexdigest()
    assert manifest["row_count"] == 150
    spotzi = export_spotzi(engine, store, export_settings, source, campaign_id="spring", day=DAY, now=NOW)
    assert spotzi.status == "complete"
    table = _get(export_settings, f"spotzi/spring/{DAY.isoformat()}/zones/zone_hours.csv").decode()
    assert table.splitlines()[1].startswith("prater,2026-11-23T09:00:00Z,")


def _world_more(engine: Engine, campaign: str) -> None:
    with Session(engine) as s:
        s.add(Campaign(id=campaign, name=campaign, advertiser_id="acme", created_at=NOW))
        s.commit()


class FlakyS3:
    """A loopback proxy in front of moto that answers the first `failures` PUTs with 503 SlowDown."""

    def __init__(self, upstream: str, failures: int) -> None:
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        up = urlsplit(upstream)
        self.failures = failures
        self.refused = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.command == "PUT" and proxy.refused < proxy.failures:
                    proxy.refused += 1
                    raw = b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
                    self.send_response(503)
                    self.send_header("content-length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                    return
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                r = conn.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in {
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "date",
                        "server",
                    }:
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, name="flaky-s3", daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_transient_s3_errors_are_retried_and_past_the_budget_recorded(
    engine: Engine, export_settings: ExportSettings
) -> None:
    import dataclasses

    _world(engine)
    _impressions(engine, "spring", "prater", _hids("aa", 12), randomized=False)
    flaky = FlakyS3(export_settings.export_s3_endpoint or "", failures=2)
    try:
        s = dataclasses.replace(export_settings, export_s3_endpoint=flaky.url, export_s3_max_attempts=4)
        row = export_spotzi(
            engine, ObjectStore.from_settings(s), s, RollupSource(), campaign_id="spring", day=DAY, now=NOW
        )
        assert row.status == "complete"
        assert flaky.refused == 2  # botocore retried both 503s, the export did not notice
        flaky.failures, flaky.refused = 10, 0
        day2 = date(2026, 11, 22)
        _impressions(engine, "spring", "prater", _hids("bb", 12), randomized=False, hour=-15)
        one = dataclasses.replace(s, export_s3_max_attempts=1)
        row = export_spotzi(
            engine,
            ObjectStore.from_settings(one),
            one,
            RollupSource(),
            campaign_id="spring",
            day=day2,
            now=NOW,
        )
        assert row.status == "failed"
        assert (row.reason or "").startswith("SlowDown")
    finally:
        flaky.close()
