"""The privacy rule: vectors shared with the firmware, key rotation, and key destruction."""

from __future__ import annotations

import hmac
import json
from pathlib import Path

import pytest

from edge_agent.privacy import Keyring

VECTORS = json.loads((Path(__file__).parent / "privacy_vectors.json").read_text())["vectors"]


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: f"{v['mac']}@{v['ts']}/{v['rotation_s']}")
def test_vectors(v: dict) -> None:
    mac = bytes.fromhex(v["mac"].replace(":", ""))
    fleet_key = bytes.fromhex(v["fleet_key"])
    # The rule as written in the docstring, spelled out independently of the module:
    index = v["ts"] // v["rotation_s"]
    k_p = hmac.new(fleet_key, b"mob-id-v1:" + str(index).encode(), "sha256").digest()
    assert index == v["period_index"]
    assert k_p.hex() == v["period_key"]
    assert hmac.new(k_p, mac, "sha256").digest()[:8].hex() == v["hid"]
    assert Keyring(fleet_key, v["rotation_s"]).hid(mac, v["ts"] * 1000) == v["hid"]
    assert bool(mac[0] & 0x02) == v["randomized"]


def test_ids_change_at_the_period_boundary_and_only_one_key_is_held() -> None:
    ring = Keyring(b"k" * 32, rotation_s=3600)
    mac = bytes.fromhex("7c8bcaeca018")
    a = ring.hid(mac, 3_599_999)
    assert ring.period == 0
    held = ring._key
    before = bytes(held)
    b = ring.hid(mac, 3_600_000)
    assert ring.period == 1
    assert a != b
    assert bytes(held) != before  # the old period's key bytes were overwritten in place
    assert ring.hid(mac, 3_600_001) == b


def test_rotation_change_drops_the_key() -> None:
    ring = Keyring(b"k" * 32, rotation_s=86_400)
    mac = bytes(6)
    daily = ring.hid(mac, 10_000_000)
    ring.rotation_s = 3600
    assert ring.period is None
    assert ring.hid(mac, 10_000_000) != daily
    with pytest.raises(ValueError, match="positive"):
        ring.rotation_s = 0
    with pytest.raises(ValueError, match="16 bytes"):
        Keyring(b"short")
