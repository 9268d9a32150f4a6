"""Fault injection on the Pi agent's OTA: whatever the server sends and wherever the power is cut,
the agent ends on a valid signed version and reports the right final state.

The agent runs in a child process (tests/rollouts/agent_child.py) so the power cut is a real
SIGKILL; the server is a real HTTP server with Range support that serves what the test says,
hostile bytes included.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from edge_agent.ota.slots import Slots
from tests.rollouts.conftest import Files, Fleet, rotate
from tests.services import python_env

V1 = os.urandom(50_000)
V2 = os.urandom(300_000)
CHILD = Path(__file__).with_name("agent_child.py")


@pytest.fixture
def device(tmp_path: Path, fleet: Fleet) -> Path:
    root = tmp_path / "agent"
    Slots(root).bootstrap(1, V1)
    (tmp_path / "root.json").write_bytes(fleet.root_document)
    return root


def _offer(
    http: Files,
    fleet: Fleet,
    *,
    artifact: bytes = V2,
    served: bytes | None = None,
    job: str = "j1",
    **kw: object,
) -> str:
    doc = kw.pop("document", None) or fleet.release(
        artifact, hardware=kw.pop("hardware", "rpi"), model=kw.pop("model", "pi4"), **kw
    )  # type: ignore[arg-type]
    base = f"http://127.0.0.1:{http.server_address[1]}"
    http.files[f"/{job}/artifact"] = artifact if served is None else served
    http.files[f"/{job}/metadata"] = doc  # type: ignore[assignment]
    return json.dumps(
        {
            "job": job,
            "version": "2",
            "url": f"{base}/{job}/artifact",
            "sha256": hashlib.sha256(artifact).hexdigest(),
            "length": len(artifact),
            "metadata": f"{base}/{job}/metadata",
        }
    )


def _run(
    device: Path, offer: str = "-", *, kill_at: str = "-", self_test: str = "ok"
) -> tuple[int, list[dict]]:
    reports = device.parent / "reports.jsonl"
    p = subprocess.run(
        [
            sys.executable,
            str(CHILD),
            str(device),
            str(device.parent / "root.json"),
            offer,
            kill_at,
            self_test,
            str(reports),
        ],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode in (0, -9), p.stderr
    lines = [json.loads(x) for x in reports.read_text().splitlines()] if reports.exists() else []
    return p.returncode, lines


def _final(reports: list[dict]) -> dict:
    return [r for r in reports if r["state"] in ("succeeded", "failed", "rolled-back")][-1]


def test_a_good_update_commits(device: Path, http: Files, fleet: Fleet) -> None:
    _, reports = _run(device, _offer(http, fleet))
    assert [r["state"] for r in reports] == [
        "offered",
        "downloading",
        "verifying",
        "installing",
        "rebooting",
        "confirming",
        "succeeded",
    ]
    s = Slots(device)
    assert (s.current, s.good) == (2, 2)
    assert s.artifact(2).read_bytes() == V2


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("corrupted-byte", "HashMismatch"),
        ("truncated", "LengthMismatch"),
        ("endless", "LengthMismatch"),
        ("bad-signature", "BadSignature"),
        ("expired", "Expired"),
        ("older-version", "Rollback"),
        ("wrong-hardware", "WrongTarget"),
        ("below-threshold", "ThresholdNotMet"),
    ],
)
def test_refused_updates_fail_and_change_nothing(
    device: Path, http: Files, fleet: Fleet, case: str, error: str
) -> None:
    kw: dict[str, object] = {}
    match case:
        case "corrupted-byte":
            kw["served"] = V2[:7] + bytes([V2[7] ^ 0x40]) + V2[8:]
        case "truncated":
            kw["served"] = V2[:-100]
        case "endless":
            kw["served"] = V2 + b"more"
        case "bad-signature":
            kw["document"] = fleet.release(V2, hardware="rpi", model="pi4").replace(
                b'"model":"pi4"', b'"model":"pi5"'
            )
        case "expired":
            kw["expires"] = int(time.time()) - 1
        case "older-version":
            Slots(device).bootstrap(3, V1)
        case "wrong-hardware":
            kw["hardware"] = "esp32"
        case "below-threshold":
            kw["keys"] = fleet.release_keys[:1]
    before = Slots(device).current
    _, reports = _run(device, _offer(http, fleet, **kw))
    final = _final(reports)
    assert final["state"] == "failed"
    assert final["reason"].startswith(error)
    s = Slots(device)
    assert (s.current, s.good, s.pending()) == (before, before, None)
    assert not list((device / "download").glob("*")) if (device / "download").exists() else True


def test_a_download_cut_by_power_loss_resumes_with_a_range(device: Path, http: Files, fleet: Fleet) -> None:
    offer = _offer(http, fleet)
    code, _ = _run(device, offer, kill_at="chunk:150000")
    assert code == -9
    _, reports = _run(device, offer)  # the retained offer again after power-up: the same job resumes
    assert any(r.startswith("bytes=") and int(r[6:-1]) >= 150000 for r in http.ranges), http.ranges
    assert _final(reports)["state"] == "succeeded"
    assert Slots(device).artifact(2).read_bytes() == V2


@pytest.mark.parametrize("step", ["downloading", "verifying", "installed", "switched", "confirming"])
def test_power_loss_at_every_step_ends_on_a_valid_version(
    device: Path, http: Files, fleet: Fleet, step: str
) -> None:
    offer = _offer(http, fleet)
    code, _ = _run(device, offer, kill_at=step)
    assert code == -9
    _, reports = _run(device, offer)  # power back: the start-up check, then the retained offer
    s = Slots(device)
    assert s.current == s.good
    assert s.current in (1, 2)
    assert s.artifact(s.current).read_bytes() == (V2 if s.current == 2 else V1)
    final = _final(reports)
    if step == "confirming":
        # The new version started but died before confirming: back on v1, reported, not retried.
        assert (final["state"], s.current) == ("rolled-back", 1)
    else:  # before the switch the job resumes; right after it, the first boot of v2 self-tests
        assert (final["state"], s.current) == ("succeeded", 2)


def test_a_version_that_fails_its_self_test_rolls_back(device: Path, http: Files, fleet: Fleet) -> None:
    _, reports = _run(device, _offer(http, fleet), self_test="fail")
    final = _final(reports)
    assert final == {"job": "j1", "state": "rolled-back", "reason": "self-test failed"}
    s = Slots(device)
    assert (s.current, s.good, s.pending()) == (1, 1, None)
    # The same job offered again (retained) is ignored: no reinstall loop.
    _, again = _run(device, _offer(http, fleet))
    assert len(again) == len(reports)


def test_rotated_roots_are_followed_kept_across_restarts_and_their_revoked_keys_refused(
    device: Path, http: Files, fleet: Fleet
) -> None:
    v2 = rotate(fleet.root_keys)
    v3 = rotate(v2.root_keys, version=3)
    http.files["/roots/2.json"] = v2.document
    http.files["/roots/3.json"] = v3.document
    # Signed only by root v3's release keys: the agent shipped with root v1 walks v1 -> v2 -> v3.
    _, reports = _run(device, _offer(http, fleet, keys=v3.release_keys))
    assert _final(reports)["state"] == "succeeded", reports
    assert Slots(device).current == 2
    # Restarted (every run is a new process) and the server no longer publishes the rotations: the
    # root the agent kept still refuses a release signed by the keys the rotation dropped.
    http.files.clear()
    _, reports = _run(device, _offer(http, fleet, job="j2", version=3))
    final = _final(reports)
    assert final["state"] == "failed"
    assert final["reason"].startswith("ThresholdNotMet"), final
    assert "release role of root v3" in final["reason"]
    s = Slots(device)
    assert (s.current, s.good, s.pending()) == (2, 2, None)


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("forged", "ThresholdNotMet"),  # not signed by root v1's key: an attacker's root
        ("version-gap", "VersionGap"),  # v3 where v2 is due
        ("rollback", "Rollback"),  # a root v1 again
    ],
)
def test_a_root_that_does_not_chain_fails_the_job_and_the_agent_keeps_its_root(
    device: Path, http: Files, fleet: Fleet, case: str, error: str
) -> None:
    bad = {
        "forged": rotate(fleet.root_keys, forged=True),
        "version-gap": rotate(fleet.root_keys, version=3),
        "rollback": rotate(fleet.root_keys, version=1),
    }[case]
    http.files["/roots/2.json"] = bad.document
    _, reports = _run(device, _offer(http, fleet, keys=bad.release_keys))
    final = _final(reports)
    assert final["state"] == "failed"
    assert final["reason"].startswith(error), final
    s = Slots(device)
    assert (s.current, s.good, s.pending()) == (1, 1, None)
    # Still on root v1: with the bad root gone, a release by root v1's release keys installs.
    del http.files["/roots/2.json"]
    _, reports = _run(device, _offer(http, fleet, job="j2"))
    assert _final(reports)["state"] == "succeeded", reports
    assert Slots(device).current == 2


def test_an_agent_follows_a_rotation_published_through_the_cloud(
    device: Path, server: str, tokens: dict, fleet: Fleet
) -> None:
    """The cloud's own routes end to end: root v2 uploaded, a release signed by its keys accepted,
    and the agent (shipped with root v1) finds v2 beside the release's metadata and installs it."""
    v2 = rotate(fleet.root_keys)
    with httpx.Client(base_url=server, headers=tokens["write"], timeout=30) as c:
        assert c.post("/releases/roots", content=v2.document).status_code == 201
        doc = fleet.release(V2, hardware="rpi", model="pi4", keys=v2.release_keys)
        r = c.post("/releases", content=doc)
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        assert c.put(f"/releases/{rid}/artifact", content=V2).status_code == 200
    offer = {
        "job": "j1",
        "version": "2",
        "url": f"{server}/releases/{rid}/artifact",
        "sha256": hashlib.sha256(V2).hexdigest(),
        "length": len(V2),
        "metadata": f"{server}/releases/{rid}/metadata",
    }
    _, reports = _run(device, json.dumps(offer))
    assert _final(reports)["state"] == "succeeded", reports
    assert Slots(device).current == 2
