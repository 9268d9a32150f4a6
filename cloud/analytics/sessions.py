"""Dwell sessions: a device's run of sightings with gaps of at most `gap_ms` (5 min by default).

A `Track` holds one device's sessions on one (campaign, asset, zone) as two sorted parallel lists
(`starts`, `ends`); sessions are disjoint and more than `gap_ms` apart. Inserting a sighting is
O(log n) plus a list insert and is order-independent: a late sighting that falls within the gap of
both neighbours bridges them into one session. Re-inserting a sighting changes nothing, so
absorbing a batch twice is harmless. Dwell = last - first sighting of the session.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(slots=True)
class Track:
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    windows: dict[int, int] = field(default_factory=dict)  # dedup window index -> first sighting ts

    def sessions(self) -> list[tuple[int, int]]:
        return list(zip(self.starts, self.ends, strict=True))

    def insert(self, ts_ms: int, gap_ms: int) -> bool:
        """Add one sighting; True if any session changed."""
        starts, ends = self.starts, self.ends
        i = bisect.bisect_right(starts, ts_ms)  # sessions[:i] start at or before ts
        joins_prev = i > 0 and ts_ms - ends[i - 1] <= gap_ms
        joins_next = i < len(starts) and starts[i] - ts_ms <= gap_ms
        if joins_prev and ts_ms <= ends[i - 1]:
            return False  # inside an existing session
        if joins_prev and joins_next:
            ends[i - 1] = ends[i]
            del starts[i], ends[i]
        elif joins_prev:
            ends[i - 1] = ts_ms
        elif joins_next:
            starts[i] = ts_ms
        else:
            starts.insert(i, ts_ms)
            ends.insert(i, ts_ms)
        return True

    def note_window(self, ts_ms: int, window_ms: int) -> bool:
        """Record the sighting for dedup windows; True if the window's first sighting changed."""
        w = ts_ms // window_ms
        first = self.windows.get(w)
        if first is None or ts_ms < first:
            self.windows[w] = ts_ms
            return True
        return False


def split_sessions(timestamps: list[int], gap_ms: int) -> list[tuple[int, int]]:
    """Sessions of a sorted list of sighting times (the batch definition, used by tests/docs)."""
    out: list[tuple[int, int]] = []
    for t in timestamps:
        if out and t - out[-1][1] <= gap_ms:
            out[-1] = (out[-1][0], t)
        else:
            out.append((t, t))
    return out
