"""Replay of a pcap/pcapng capture as a live source, at recorded or accelerated speed.

``speed=None`` replays as fast as the agent can take it (tests, benchmarks, back-filling a capture
made offline); ``speed=1.0`` keeps the recorded gaps between frames; ``speed=10`` plays ten times
faster. ``rebase=True`` shifts the timestamps so the first frame is "now", for demos that replay an
old capture into a live cloud; by default observations keep the times they were captured at, so a
replay hashes to exactly what a direct parse of the file gives. Frames that are not probe requests
(or are malformed) are counted in ``skipped`` and otherwise ignored, as on a live interface.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

from edge_agent.exceptions import FrameError
from edge_agent.sighting import Sighting
from edge_agent.sources.pcapfile import read_capture
from edge_agent.sources.wifi import parse_probe

_YIELD_EVERY = 256  # frames between yields to the event loop when replaying flat out


class PcapReplay:
    """A SightingSource reading WiFi probe requests from a capture file."""

    def __init__(self, path: str | Path, speed: float | None = None, rebase: bool = False) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive (or None for as fast as possible)")
        self.name = f"pcap:{Path(path).name}"
        self.path = Path(path)
        self.speed = speed
        self.rebase = rebase
        self.frames = 0
        self.skipped = 0

    async def sightings(self) -> AsyncIterator[Sighting]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        first_ns: int | None = None
        shift_ns = 0
        for frame in read_capture(self.path):
            self.frames += 1
            if first_ns is None:
                first_ns = frame.ts_ns
                if self.rebase:
                    shift_ns = time.time_ns() - first_ns
            if self.speed is not None:
                due = started + (frame.ts_ns - first_ns) / 1e9 / self.speed
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif self.frames % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            try:
                probe = parse_probe(frame)
            except FrameError:
                self.skipped += 1
                continue
            sighting = probe.sighting()
            if shift_ns:
                sighting = dataclasses.replace(sighting, ts_ms=(frame.ts_ns + shift_ns) // 1_000_000)
            yield sighting
