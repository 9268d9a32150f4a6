"""Hashed ids computed by the firmware under MicroPython equal CPython's hmac, and the edge agent's
vectors (tests/edge_agent/privacy_vectors.json, when that branch is merged)."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
from pathlib import Path

import pytest

from firmware.host.paths import REPO, micropython_path

AGENT_VECTORS = REPO / "tests" / "edge_agent" / "privacy_vectors.json"

SCRIPT = """
import json, sys, privacy
for line in sys.stdin:
    v = json.loads(line)
    mac = bytes(int(p, 16) for p in v["mac"].split(":"))
    h = privacy.Hasher(bytes.fromhex(v["fleet_key"]), v["rotation_s"])
    print(h.hid(mac, v["ts"]), privacy.randomized(v.get("addr_type", 0), mac))
"""


def own_vectors() -> list[dict]:
    key = bytes(range(32)).hex()
    out = []
    for mac, ts, rot, addr_type in [
        ("a4:c1:38:00:00:01", 1767225600, 86400, 0),
        ("a4:c1:38:00:00:01", 1767225600 + 86399, 86400, 0),
        ("a4:c1:38:00:00:01", 1767225600 + 86400, 86400, 0),
        ("5e:aa:bb:cc:dd:02", 1767225600, 3600, 1),
        ("f2:00:00:00:00:00", 1, 60, 0),
    ]:
        k_p = hmac.new(bytes.fromhex(key), b"mob-id-v1:" + str(ts // rot).encode(), hashlib.sha256).digest()
        hid = hmac.new(k_p, bytes.fromhex(mac.replace(":", "")), hashlib.sha256).hexdigest()[:16]
        flag = 1 if addr_type == 1 or int(mac[:2], 16) & 2 else 0
        out.append(
            {
                "fleet_key": key,
                "mac": mac,
                "ts": ts,
                "rotation_s": rot,
                "addr_type": addr_type,
                "hid": hid,
                "randomized": bool(flag),
            }
        )
    return out


def run_on_micropython(micropython: str, vectors: list[dict], tmp_path: Path) -> list[tuple[str, bool]]:
    r = subprocess.run(
        [micropython, "-X", "heapsize=100K", "-c", SCRIPT],
        input="".join(json.dumps(v) + "\n" for v in vectors),
        capture_output=True,
        text=True,
        env={"MICROPYPATH": micropython_path()},
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    return [(h, f == "1") for h, f in (line.split() for line in r.stdout.splitlines())]


@pytest.mark.micropython
def test_firmware_hids_match_cpython_hmac(micropython: str, tmp_path: Path) -> None:
    vectors = own_vectors()
    assert run_on_micropython(micropython, vectors, tmp_path) == [
        (v["hid"], v["randomized"]) for v in vectors
    ]
    assert vectors[0]["hid"] == vectors[1]["hid"] != vectors[2]["hid"]  # same day, then the key rotates


@pytest.mark.micropython
def test_firmware_hids_match_the_edge_agent_vectors(micropython: str, tmp_path: Path) -> None:
    vectors = json.loads(AGENT_VECTORS.read_text())["vectors"]
    got = run_on_micropython(micropython, vectors, tmp_path)
    assert [h for h, _ in got] == [v["hid"] for v in vectors]
    # public BLE/WiFi addresses: the locally administered bit decides, as on the agent
    assert [f for _, f in got] == [v["randomized"] for v in vectors]
