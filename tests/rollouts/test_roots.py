"""Root rotation in the cloud: a next root is accepted only when it chains from the newest one,
devices fetch roots by version without a token (404 past the newest), and releases are verified
against the newest root from then on. On SQLite and PostgreSQL."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient

from tests.rollouts.conftest import Fleet, rotate

ARTIFACT = os.urandom(10_000)


def _upload(api: TestClient, tokens: dict, document: bytes) -> dict:
    r = api.post("/releases/roots", content=document, headers=tokens["write"])
    assert r.status_code == 201, r.text
    return r.json()


def test_a_rotated_root_is_served_and_releases_verify_against_it(
    api: TestClient, tokens: dict, fleet: Fleet
) -> None:
    v2 = rotate(fleet.root_keys)
    assert api.get("/releases/roots/2.json").status_code == 404  # nothing rotated yet
    root = _upload(api, tokens, v2.document)
    assert root["version"] == 2
    assert root["url"].endswith("/releases/roots/2.json")
    # Devices fetch roots as they fetch release metadata: no token, the bytes exactly as signed.
    assert api.get("/releases/roots/2.json").content == v2.document
    assert api.get("/releases/roots/1.json").content == fleet.root_document
    assert api.get("/releases/roots/3.json").status_code == 404
    # Releases now need the new release keys; the rotated-out ones are refused.
    r = api.post("/releases", content=fleet.release(ARTIFACT, version=2), headers=tokens["write"])
    assert (r.status_code, r.json()["error"]) == (422, "ThresholdNotMet"), r.text
    assert "root v2" in r.json()["detail"]
    r = api.post(
        "/releases", content=fleet.release(ARTIFACT, version=2, keys=v2.release_keys), headers=tokens["write"]
    )
    assert r.status_code == 201, r.text
    # The chain goes on from v2: v3 must be signed by v2's root key, not v1's.
    assert (
        api.post(
            "/releases/roots", content=rotate(fleet.root_keys, version=3).document, headers=tokens["write"]
        ).json()["error"]
        == "ThresholdNotMet"
    )
    _upload(api, tokens, rotate(v2.root_keys, version=3).document)
    listed = api.get("/releases/roots", headers=tokens["read"]).json()
    assert [x["version"] for x in listed] == [2, 3]


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("forged", "ThresholdNotMet"),  # signed by its own new key, not by the trusted root's
        ("version-gap", "VersionGap"),
        ("same-version", "Rollback"),
        ("tampered", "BadSignature"),
        ("not-json", "MalformedDocument"),
    ],
)
def test_a_root_that_does_not_chain_is_refused_with_its_reason(
    api: TestClient, tokens: dict, fleet: Fleet, case: str, error: str
) -> None:
    match case:
        case "forged":
            doc = rotate(fleet.root_keys, forged=True).document
        case "version-gap":
            doc = rotate(fleet.root_keys, version=3).document
        case "same-version":
            doc = rotate(fleet.root_keys, version=1).document
        case "tampered":
            doc = rotate(fleet.root_keys).document.replace(b'"threshold":2', b'"threshold":1')
        case _:
            doc = b"{not json"
    r = api.post("/releases/roots", content=doc, headers=tokens["write"])
    assert r.status_code == 422, r.text
    assert r.json()["error"] == error
    assert "root v1" in r.json()["detail"]
    assert api.get("/releases/roots/2.json").status_code == 404
    # Releases still verify against root v1.
    assert api.post("/releases", content=fleet.release(ARTIFACT), headers=tokens["write"]).status_code == 201


def test_uploading_a_root_needs_a_write_token(api: TestClient, tokens: dict, fleet: Fleet) -> None:
    doc = rotate(fleet.root_keys).document
    assert api.post("/releases/roots", content=doc).status_code == 401
    assert api.post("/releases/roots", content=doc, headers=tokens["read"]).status_code == 403
    assert api.get("/releases/roots/2.json").status_code == 404
