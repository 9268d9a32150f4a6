"""pcap and pcapng readers: real conversions by Wireshark's editcap, and hand-built corner cases."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from edge_agent.exceptions import CaptureFormatError
from edge_agent.sources.pcapfile import LINKTYPE_IEEE802_11_RADIOTAP, CaptureFrame, read_capture
from tests.edge_agent.conftest import wireshark_tool


@pytest.mark.parametrize("fmt", ["pcapng", "nsecpcap"])
def test_editcap_conversions_read_identically(brno: Path, tmp_path: Path, fmt: str) -> None:
    pcap = brno / "2023-02-23.pcap"
    out = tmp_path / f"converted.{fmt}"
    subprocess.run([wireshark_tool("editcap"), "-F", fmt, str(pcap), str(out)], check=True)
    assert list(read_capture(out)) == list(read_capture(pcap))


def _block(order: str, kind: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    total = len(body) + 12
    return struct.pack(order + "II", kind, total) + body + struct.pack(order + "I", total)


def _pcapng(order: str, frames: list[CaptureFrame], tsresol: int, tsoffset: int) -> bytes:
    """A big- or little-endian pcapng with one interface using the given if_tsresol byte."""
    shb = _block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = struct.pack(order + "HH", 9, 1) + bytes([tsresol, 0, 0, 0])
    opts += struct.pack(order + "HHq", 14, 8, tsoffset) + struct.pack(order + "HH", 0, 0)
    idb = _block(order, 1, struct.pack(order + "HHI", LINKTYPE_IEEE802_11_RADIOTAP, 0, 0) + opts)
    units_per_s = 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10**tsresol
    out = shb + idb + _block(order, 0xBAD, b"custom block the reader must skip")
    for f in frames:
        ts = (f.ts_ns - tsoffset * 1_000_000_000) * units_per_s // 1_000_000_000
        out += _block(
            order,
            6,
            struct.pack(order + "IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(f.data), f.orig_len) + f.data,
        )
    return out


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_byte_orders_resolutions_and_offsets(brno: Path, tmp_path: Path, order: str) -> None:
    frames = list(read_capture(brno / "2023-02-23.pcap"))[:50]
    path = tmp_path / "hand.pcapng"
    path.write_bytes(_pcapng(order, frames, tsresol=9, tsoffset=1_600_000_000))  # ns, offset epoch
    assert list(read_capture(path)) == frames
    path.write_bytes(_pcapng(order, frames, tsresol=0x80 | 20, tsoffset=0))  # 2^-20 s units
    for got, want in zip(read_capture(path), frames, strict=True):
        assert got.data == want.data
        assert abs(got.ts_ns - want.ts_ns) < 1000


def test_truncated_files_yield_complete_frames_then_say_where(brno: Path, tmp_path: Path) -> None:
    pcap = brno / "2023-02-23.pcap"
    whole = pcap.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[:-10])
    frames: list[CaptureFrame] = []
    with pytest.raises(CaptureFormatError) as err:
        frames.extend(read_capture(cut))
    assert len(frames) == len(list(read_capture(pcap))) - 1
    assert err.value.offset is not None
    assert err.value.offset > 0
    assert err.value.path == str(cut)


def test_not_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(b"GIF89a not a capture")
    with pytest.raises(CaptureFormatError, match="unknown magic"):
        list(read_capture(path))
