"""Observations: flags from real frames, the lab's static-MAC list as infrastructure, GPS at close."""

from __future__ import annotations

import csv
from pathlib import Path

from edge_agent.gps import Fix, FixMode, Track
from edge_agent.observations import Batch, Observer
from edge_agent.privacy import Keyring
from edge_agent.sighting import Kind, Sighting
from edge_agent.sources.pcapfile import read_capture
from edge_agent.sources.wifi import parse_probe
from protocol import codec
from protocol.bodies import FLAG_DIRECTED, FLAG_INFRA, FLAG_RANDOMIZED, MAX_DT

KEY = bytes(range(32))


def test_flags_on_real_frames_with_the_labs_static_macs_as_infrastructure(brno: Path) -> None:
    static = {line.strip() for line in (brno / "exclude-static-macs.txt").read_text().split() if line.strip()}
    # The lab's desktops do not probe on these two days; add a TP-Link adapter heard all day in both.
    static.add("7c:8b:ca:ec:a0:18")
    observer = Observer(Keyring(KEY), -127, frozenset(bytes.fromhex(m.replace(":", "")) for m in static))
    rows = list(csv.DictReader((brno / "2023-02-23.csv").open(newline=""), delimiter=";"))
    obs = [observer.observe(parse_probe(f).sighting()) for f in read_capture(brno / "2023-02-23.pcap")]
    for row, o in zip(rows, obs, strict=True):
        assert o is not None
        assert bool(o.flags & FLAG_INFRA) == (row["src"] in static)
        assert bool(o.flags & FLAG_RANDOMIZED) == (row["randomized"] == "1")
        assert bool(o.flags & FLAG_DIRECTED) == bool(row["ssid"])
        assert len(o.hid) == 16
    assert any(o.flags & FLAG_INFRA for o in obs if o)


def test_rssi_floor_and_missing_rssi_are_counted() -> None:
    observer = Observer(Keyring(KEY), rssi_floor=-80)
    mac = bytes.fromhex("a4c361000001")
    assert observer.observe(Sighting(0, Kind.WIFI, mac, -81, False)) is None
    assert observer.observe(Sighting(0, Kind.WIFI, mac, None, False)) is None
    assert observer.observe(Sighting(0, Kind.WIFI, mac, -80, False)) is not None
    assert (observer.below_floor, observer.without_rssi) == (1, 1)


def test_batch_body_takes_the_nearest_fix_and_is_valid_telemetry() -> None:
    observer = Observer(Keyring(KEY), -127)
    track = Track()
    for t, lat in ((1_000, 49.1), (2_000, 49.2), (3_000, 49.3)):
        track.add(Fix(ts_ms=1_700_000_000_000 + t, mode=FixMode.THREE_D, lat=lat, lon=16.6))
    batch = Batch()
    for dt in (1_400, 1_600, 9_000):
        o = observer.observe(Sighting(1_700_000_000_000 + dt, Kind.BLE, bytes(6), -70, True))
        assert o is not None
        assert batch.accepts(o)
        batch.add(o, 0.0)
    body = batch.body(track, max_fix_gap_ms=2_000)
    assert [r[5] for r in body["obs"]] == [49_100_000, 49_200_000, None]  # 9 s away: no fix
    assert body["t0"] == 1_700_000_001_400
    assert body["key"] == f"k86400-{1_700_000_001_400 // 1000 // 86400}"
    assert body["gps"] == [[600, 49_200_000, 16_600_000, 0, 1], [1_600, 49_300_000, 16_600_000, 0, 1]]
    codec.encode(codec.make("telemetry", "rpi-1", "0123abcd", 0, 1, {"batch": 0, **body}))
    late = observer.observe(Sighting(1_700_000_001_400 + MAX_DT + 1, Kind.BLE, bytes(6), -70, True))
    assert late is not None
    assert not batch.accepts(late)


def test_a_key_rotation_closes_the_batch() -> None:
    observer = Observer(Keyring(KEY, rotation_s=3600), -127)
    batch = Batch()
    before = observer.observe(Sighting(3_599_999, Kind.WIFI, bytes(6), -60, False))
    after = observer.observe(Sighting(3_600_000, Kind.WIFI, bytes(6), -60, False))
    assert before is not None
    assert after is not None
    batch.add(before, 0.0)
    assert not batch.accepts(after)
    assert (before.key, after.key) == ("k3600-0", "k3600-1")
    assert before.hid != after.hid
