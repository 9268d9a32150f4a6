"""Radiotap edge cases the Brno captures do not exercise, checked against tshark's own dissector."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from edge_agent.exceptions import FrameError
from edge_agent.sources.dot11 import parse_probe_request
from edge_agent.sources.pcapfile import LINKTYPE_IEEE802_11_RADIOTAP, CaptureFrame, read_capture
from edge_agent.sources.radiotap import channel_of, parse_radiotap
from edge_agent.sources.wifi import parse_probe
from tests.edge_agent.conftest import wireshark_tool

SRC = bytes.fromhex("da a1 19 2c 4e 7f".replace(" ", ""))
PROBE = (
    bytes([0x40, 0x00, 0x00, 0x00])
    + b"\xff" * 6
    + SRC
    + b"\xff" * 6
    + struct.pack("<H", (3071 << 4) | 0)
    + bytes([0, 4])
    + b"cafe"  # SSID "cafe"
    + bytes([1, 4, 0x02, 0x04, 0x0B, 0x16])  # supported rates
    + bytes([221, 7, 0x00, 0x50, 0xF2, 0x08, 0x00, 0x10, 0x00])  # vendor: Microsoft WPS-ish
)
FCS = b"\xde\xad\xbe\xef"


def extended_header() -> bytes:
    """TSFT+flags+rate+channel+signal+noise, a second radiotap namespace (per-chain signal and
    antenna), then a vendor namespace with 4 bytes to skip. Offsets written out by hand:
      0  version, pad, length(44)        4  present0 = bits 0,1,2,3,5,6 + 29 + 31
      8  present1 = bits 5,11 + 30 + 31  12 present2 (vendor namespace, no bits)
     16 TSFT (8-aligned)  24 flags(FCS at end)  25 rate  26 channel freq/flags  30 signal -61
     31 noise -95  32 chain signal -59  33 antenna 1  34 vendor OUI,subns,skip=4  40 skipped data
    """
    p0 = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 6) | (1 << 29) | (1 << 31)
    p1 = (1 << 5) | (1 << 11) | (1 << 30) | (1 << 31)
    p2 = 0
    body = struct.pack("<BBHIII", 0, 0, 44, p0, p1, p2)
    body += struct.pack("<Q", 123456789) + bytes([0x10, 0x02]) + struct.pack("<HH", 5180, 0x0140)
    body += struct.pack("<bb", -61, -95) + struct.pack("<bB", -59, 1)
    body += bytes([0x00, 0x11, 0x22, 0x01]) + struct.pack("<H", 4) + b"\xaa\xbb\xcc\xdd"
    assert len(body) == 44
    return body


def test_extended_bitmaps_namespaces_and_fcs() -> None:
    header = extended_header()
    rt = parse_radiotap(header + PROBE + FCS)
    assert (rt.length, rt.tsft_us, rt.freq_mhz, rt.dbm_signal, rt.dbm_noise) == (
        44,
        123456789,
        5180,
        -61,
        -95,
    )
    assert rt.antenna is None  # antenna only appears in the second (per-chain) namespace
    assert rt.fcs_at_end
    assert not rt.bad_fcs
    probe = parse_probe(
        CaptureFrame(1_700_000_000_000_000_000, LINKTYPE_IEEE802_11_RADIOTAP, header + PROBE + FCS, 0)
    )
    assert probe.src == SRC
    assert probe.seq_num == 3071
    assert probe.channel == 36
    assert probe.ssids == ("cafe",)
    assert probe.ie_ids == (0, 1, 221)
    assert probe.vendor_ouis == (0x0050F2,)
    assert probe.randomized  # 0xda has the locally administered bit


def test_bad_fcs_and_other_frames_are_rejected() -> None:
    header = bytearray(extended_header())
    header[24] = 0x10 | 0x40
    with pytest.raises(FrameError) as err:
        parse_probe(CaptureFrame(0, LINKTYPE_IEEE802_11_RADIOTAP, bytes(header) + PROBE + FCS, 0))
    assert err.value.layer == "radiotap"
    beacon = bytes([0x80]) + PROBE[1:]
    with pytest.raises(FrameError, match="not a probe request"):
        parse_probe_request(beacon)
    with pytest.raises(FrameError, match="shorter"):
        parse_radiotap(b"\x00\x00\x08")
    with pytest.raises(FrameError, match="outside"):
        parse_radiotap(struct.pack("<BBHI", 0, 0, 200, 0))
    with pytest.raises(FrameError, match="link type"):
        parse_probe(CaptureFrame(0, 1, PROBE, 0))


def test_truncated_last_element_keeps_the_ones_before() -> None:
    frame = parse_probe_request(PROBE + bytes([45, 26, 0x01]))
    assert frame.truncated
    assert frame.ie_ids == (0, 1, 221)


def test_channel_numbers() -> None:
    assert [channel_of(f) for f in (2412, 2437, 2484, 5180, 5825, 5955, 900)] == [1, 6, 14, 36, 165, 1, None]


def test_tshark_reads_the_crafted_frame_the_same_way(tmp_path: Path) -> None:
    """Wireshark's radiotap dissector is the reference: same signal, frequency, source, sequence."""
    data = extended_header() + PROBE + FCS
    path = tmp_path / "crafted.pcap"
    path.write_bytes(
        struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_IEEE802_11_RADIOTAP)
        + struct.pack("<IIII", 1_700_000_000, 250_000, len(data), len(data))
        + data
    )
    out = subprocess.run(
        [
            wireshark_tool("tshark"),
            "-r",
            str(path),
            "-T",
            "fields",
            "-E",
            "separator=;",
            "-e",
            "radiotap.dbm_antsignal",
            "-e",
            "radiotap.channel.freq",
            "-e",
            "wlan.sa",
            "-e",
            "wlan.seq",
            "-e",
            "radiotap.mactime",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    signal, freq, sa, seq, mactime = out.split(";")
    probe = parse_probe(next(iter(read_capture(path))))
    assert int(signal.split(",")[0]) == probe.rssi
    assert int(freq) == probe.freq_mhz
    assert bytes.fromhex(sa.replace(":", "")) == probe.src
    assert int(seq) == probe.seq_num
    assert int(mactime) == parse_radiotap(data).tsft_us
