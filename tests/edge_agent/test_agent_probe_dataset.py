"""Every frame of the Brno ESP32 captures parses to what the dataset authors' own parse says."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge_agent.sources.pcapfile import LINKTYPE_IEEE802_11_RADIOTAP, read_capture
from edge_agent.sources.wifi import parse_probe
from tests.edge_agent.conftest import BRNO_DAYS

LAB_TZ = ZoneInfo("Europe/Prague")  # the CSV datetimes are the lab's local time


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


@pytest.mark.parametrize("day", BRNO_DAYS)
def test_every_frame_matches_its_csv_row(brno: Path, day: str) -> None:
    rows = list(csv.DictReader((brno / f"{day}.csv").open(newline=""), delimiter=";"))
    frames = list(read_capture(brno / f"{day}.pcap"))
    assert len(frames) == len(rows)
    for frame in frames:
        assert frame.linktype == LINKTYPE_IEEE802_11_RADIOTAP
    for row in rows:
        probe = parse_probe(frames[int(row["idx"])])
        where = f"{day} idx {row['idx']}"
        assert probe.src == mac(row["src"]), where
        assert probe.dst == mac(row["dst"]), where
        assert probe.rssi == int(row["rssi"]), where
        assert probe.seq_num == int(row["seq_num"]), where
        assert probe.freq_mhz == int(row["ch_freq"]), where
        assert probe.channel == 2, where  # 2417 MHz
        assert probe.randomized == (row["randomized"] == "1"), where
        assert probe.retry == (row["FCfield"] == "retry"), where
        assert list(probe.ie_ids) == json.loads(row["dot11elt"]), where
        assert list(probe.vendor_ouis) == json.loads(row["oui"]), where
        assert probe.ssids == ((row["ssid"],) if row["ssid"] else ()), where
        local = datetime.strptime(row["datetime"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=LAB_TZ)
        assert probe.ts_ns // 1000 == round(local.timestamp() * 1_000_000), where


@pytest.mark.parametrize("day", BRNO_DAYS)
def test_fingerprint_is_stable_per_device_and_finer_than_the_ie_list(brno: Path, day: str) -> None:
    """A device's IE structure repeats frame after frame, and the fingerprint, which also reads the
    capability IE bodies, tells apart at least as many device kinds as the authors' IE-id lists."""
    rows = list(csv.DictReader((brno / f"{day}.csv").open(newline=""), delimiter=";"))
    by_src: dict[bytes, set[bytes]] = {}
    for frame in read_capture(brno / f"{day}.pcap"):
        probe = parse_probe(frame)
        by_src.setdefault(probe.src, set()).add(probe.fingerprint)
    assert all(len(prints) == 1 for prints in by_src.values())
    distinct_prints = {p for prints in by_src.values() for p in prints}
    assert len(distinct_prints) >= len({row["dot11elt"] for row in rows})
