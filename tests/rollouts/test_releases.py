"""Release store: a signed document verified against the fleet root, an artifact verified while it
streams in, downloads with HTTP Range, on SQLite and PostgreSQL, a directory and an S3 server."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloud.releases.store import DirectoryStore, S3Store
from tests.rollouts.conftest import Fleet

ARTIFACT = os.urandom(200_000)


def _publish(api: TestClient, tokens: dict, document: bytes, artifact: bytes = ARTIFACT) -> dict:
    r = api.post("/releases", content=document, headers=tokens["write"])
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    r = api.put(f"/releases/{rid}/artifact", content=artifact, headers=tokens["write"])
    assert r.status_code == 200, r.text
    return r.json()


def test_publish_then_download_whole_and_resumed(api: TestClient, tokens: dict, fleet: Fleet) -> None:
    document = fleet.release(ARTIFACT)
    release = _publish(api, tokens, document)
    assert release["state"] == "ready"
    assert release["artifact_url"].endswith(f"/releases/{release['id']}/artifact")
    rid = release["id"]
    whole = api.get(f"/releases/{rid}/artifact")
    assert whole.status_code == 200
    assert whole.content == ARTIFACT
    assert whole.headers["accept-ranges"] == "bytes"
    # A device that has 123,457 bytes durably written asks for the rest.
    rest = api.get(f"/releases/{rid}/artifact", headers={"Range": "bytes=123457-"})
    assert rest.status_code == 206
    assert rest.headers["content-range"] == f"bytes 123457-{len(ARTIFACT) - 1}/{len(ARTIFACT)}"
    assert rest.content == ARTIFACT[123457:]
    mid = api.get(f"/releases/{rid}/artifact", headers={"Range": "bytes=10-19"})
    assert (mid.status_code, mid.content) == (206, ARTIFACT[10:20])
    past = api.get(f"/releases/{rid}/artifact", headers={"Range": f"bytes={len(ARTIFACT)}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{len(ARTIFACT)}"
    meta = api.get(f"/releases/{rid}/metadata")
    assert meta.content == document  # the bytes as signed: devices verify them themselves


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("bad-signature", "BadSignature"),
        ("below-threshold", "ThresholdNotMet"),
        ("expired", "Expired"),
        ("foreign-key", "ThresholdNotMet"),
        ("not-json", "MalformedDocument"),
    ],
)
def test_documents_that_do_not_verify_are_refused_with_the_reason(
    api: TestClient, tokens: dict, fleet: Fleet, case: str, error: str
) -> None:
    from ota.keys import SigningKey

    match case:
        case "bad-signature":
            doc = fleet.release(ARTIFACT).replace(b'"version":2', b'"version":3')
        case "below-threshold":
            doc = fleet.release(ARTIFACT, keys=fleet.release_keys[:1])
        case "expired":
            doc = fleet.release(ARTIFACT, expires=int(time.time()) - 5)
        case "foreign-key":
            doc = fleet.release(ARTIFACT, keys=[SigningKey.generate(), SigningKey.generate()])
        case _:
            doc = b"{not json"
    r = api.post("/releases", content=doc, headers=tokens["write"])
    assert r.status_code == 422, r.text
    assert r.json()["error"] == error
    assert api.get("/releases", headers=tokens["read"]).json() == []


@pytest.mark.parametrize(
    ("artifact", "error"),
    [
        (ARTIFACT[:1000] + bytes([ARTIFACT[1000] ^ 1]) + ARTIFACT[1001:], "HashMismatch"),
        (ARTIFACT[:-1], "LengthMismatch"),
        (ARTIFACT + b"x", "LengthMismatch"),
    ],
    ids=["corrupted-byte", "truncated", "endless"],
)
def test_artifacts_that_are_not_the_signed_bytes_are_refused_and_never_served(
    api: TestClient, tokens: dict, fleet: Fleet, artifact: bytes, error: str
) -> None:
    r = api.post("/releases", content=fleet.release(ARTIFACT), headers=tokens["write"])
    rid = r.json()["id"]
    r = api.put(f"/releases/{rid}/artifact", content=artifact, headers=tokens["write"])
    assert r.status_code == 422
    assert r.json()["error"] == error
    assert api.get(f"/releases/{rid}/artifact").status_code == 404
    # The right bytes are still accepted afterwards.
    assert api.put(f"/releases/{rid}/artifact", content=ARTIFACT, headers=tokens["write"]).status_code == 200


def test_same_version_twice_is_a_conflict_and_uploads_need_a_write_token(
    api: TestClient, tokens: dict, fleet: Fleet
) -> None:
    doc = fleet.release(ARTIFACT)
    assert api.post("/releases", content=doc).status_code == 401
    assert api.post("/releases", content=doc, headers=tokens["read"]).status_code == 403
    _publish(api, tokens, doc)
    assert api.post("/releases", content=doc, headers=tokens["write"]).status_code == 409


@pytest.fixture
def s3() -> Iterator[S3Store]:
    """moto's standalone S3 server over HTTP on loopback, through boto3 as in production."""
    boto3 = pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server")
    from cloud.broker.ports import free_port

    port = free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="releases")
        yield S3Store(client, "releases", "fleet-a")
    finally:
        server.stop()


def test_s3_store_over_http_puts_and_reads_ranges(s3: S3Store, tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(ARTIFACT)
    s3.put("esp32-x.bin", path)
    assert s3.size("esp32-x.bin") == len(ARTIFACT)
    assert b"".join(s3.read("esp32-x.bin", 0, len(ARTIFACT) - 1)) == ARTIFACT
    assert b"".join(s3.read("esp32-x.bin", 150_000, len(ARTIFACT) - 1)) == ARTIFACT[150_000:]
    from cloud.exceptions import ReleaseStoreError

    with pytest.raises(ReleaseStoreError):
        s3.size("missing.bin")
    d = DirectoryStore(tmp_path / "dir")
    d.put("k.bin", path)
    assert b"".join(d.read("k.bin", 5, 9)) == ARTIFACT[5:10]


def test_api_on_an_s3_store_serves_ranges(api: TestClient, tokens: dict, fleet: Fleet, s3: S3Store) -> None:
    api.app.state.release_store = s3  # type: ignore[attr-defined]
    rid = _publish(api, tokens, fleet.release(ARTIFACT, version=7))["id"]
    r = api.get(f"/releases/{rid}/artifact", headers={"Range": "bytes=199990-"})
    assert (r.status_code, r.content) == (206, ARTIFACT[199990:])
