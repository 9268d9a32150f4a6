"""The WiFi sources: pcap replay (flat out and timed) and a live packet socket fed real frames."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from pathlib import Path

import pytest

from edge_agent.sources.monitor import MonitorInterface
from edge_agent.sources.pcap import PcapReplay
from edge_agent.sources.pcapfile import LINKTYPE_IEEE802_11_RADIOTAP, read_capture
from edge_agent.sources.wifi import parse_probe
from tests.edge_agent.conftest import BRNO_DAYS
from tests.services import unavailable


async def collect(source, limit: int | None = None) -> list:
    out = []
    async for s in source.sightings():
        out.append(s)
        if limit is not None and len(out) == limit:
            break
    return out


@pytest.mark.parametrize("day", BRNO_DAYS)
async def test_flat_out_replay_equals_direct_parse(brno: Path, day: str) -> None:
    path = brno / f"{day}.pcap"
    direct = [parse_probe(f).sighting() for f in read_capture(path)]
    replay = PcapReplay(path)
    assert await collect(replay) == direct
    assert (replay.frames, replay.skipped) == (len(direct), 0)


async def test_timed_replay_keeps_the_recorded_gaps(brno: Path, tmp_path: Path) -> None:
    frames = list(read_capture(brno / "2023-02-23.pcap"))[:40]
    base = frames[0].ts_ns
    # Re-stamp 40 real frames 50 ms apart: 1.95 s of capture, replayed at 5x = 0.39 s.
    path = tmp_path / "short.pcap"
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_IEEE802_11_RADIOTAP))
        for i, fr in enumerate(frames):
            ts_us = base // 1000 + i * 50_000
            f.write(struct.pack("<IIII", ts_us // 1_000_000, ts_us % 1_000_000, len(fr.data), fr.orig_len))
            f.write(fr.data)
    started = time.monotonic()
    got = await collect(PcapReplay(path, speed=5.0))
    elapsed = time.monotonic() - started
    assert len(got) == 40
    assert 0.35 < elapsed < 1.0
    rebased = await collect(PcapReplay(path, rebase=True), limit=1)
    assert abs(rebased[0].ts_ms - time.time() * 1000) < 5000
    with pytest.raises(ValueError, match="positive"):
        PcapReplay(path, speed=0)


async def test_packet_socket_source_reads_real_frames_from_lo(brno: Path) -> None:
    """Radiotap frames written to ``lo`` with a packet socket come back through MonitorInterface
    exactly as a monitor interface delivers them; the kernel stamps their arrival time."""
    frames = list(read_capture(brno / "2022-11-24.pcap"))[:200]
    try:
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    except PermissionError:
        unavailable("needs CAP_NET_RAW for packet sockets")
    tx.bind(("lo", 0))
    source = MonitorInterface("lo", linktype=LINKTYPE_IEEE802_11_RADIOTAP)
    got: list = []

    async def receive() -> None:
        async for s in source.sightings():
            got.append(s)
            if len(got) == len(frames):
                return

    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(receive(), name="monitor")
        await asyncio.sleep(0.1)
        before = time.time_ns() // 1_000_000
        for i, fr in enumerate(frames):
            tx.send(fr.data)
            if i % 50 == 49:
                await asyncio.sleep(0.01)
        await asyncio.wait_for(task, 10)
    tx.close()
    want = [parse_probe(f).sighting() for f in frames]
    assert [(s.address, s.rssi, s.fingerprint) for s in got] == [
        (w.address, w.rssi, w.fingerprint) for w in want
    ]
    assert all(before <= s.ts_ms <= time.time_ns() // 1_000_000 for s in got)
    assert source.frames >= len(frames)  # lo also carries other tests' traffic, skipped as non-probes
