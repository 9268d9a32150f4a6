"""A GPS fix and the recent track of fixes.

Every observation carries the sensor's position at the moment of the sighting, so the track keeps
the last few minutes of fixes and answers "which fix is nearest in time to t" (a truck at 50 km/h
moves 14 m a second: the nearest fix, not the latest, is the honest position for a sighting that
was buffered).
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from enum import IntEnum


class FixMode(IntEnum):
    """gpsd's TPV ``mode`` and NMEA GSA's fix type share these values."""

    UNKNOWN = 0
    NO_FIX = 1
    TWO_D = 2
    THREE_D = 3


@dataclass(frozen=True, slots=True)
class Fix:
    """A position report at ``ts_ms`` (ms since the epoch, UTC). ``lat``/``lon`` in degrees (None
    without a fix), ``speed_mps`` over ground, ``course_deg`` true, ``quality`` the NMEA GGA fix
    quality (1 GPS, 2 DGPS, 4/5 RTK; None from gpsd), ``satellites`` used in the solution."""

    ts_ms: int
    mode: FixMode
    lat: float | None = None
    lon: float | None = None
    alt_m: float | None = None
    speed_mps: float | None = None
    course_deg: float | None = None
    quality: int | None = None
    satellites: int | None = None
    hdop: float | None = None

    @property
    def has_position(self) -> bool:
        return self.mode >= FixMode.TWO_D and self.lat is not None and self.lon is not None

    @property
    def lat_e6(self) -> int | None:
        return round(self.lat * 1_000_000) if self.lat is not None else None

    @property
    def lon_e6(self) -> int | None:
        return round(self.lon * 1_000_000) if self.lon is not None else None


class Track:
    """Recent fixes in time order, bounded by count; the latest fix state is kept apart so the
    heartbeat can report "no fix" even when the track still holds older positions."""

    def __init__(self, max_fixes: int = 600) -> None:
        self._times: deque[int] = deque(maxlen=max_fixes)
        self._fixes: deque[Fix] = deque(maxlen=max_fixes)
        self.latest: Fix | None = None

    def __len__(self) -> int:
        return len(self._fixes)

    def add(self, fix: Fix) -> None:
        """Record a fix; a fix for the same instant replaces the one held (NMEA sends several
        sentences per epoch), a fix older than the newest held is dropped."""
        self.latest = fix
        if not fix.has_position:
            return
        if self._times and fix.ts_ms <= self._times[-1]:
            if fix.ts_ms == self._times[-1]:
                self._fixes[-1] = fix
            return
        self._times.append(fix.ts_ms)
        self._fixes.append(fix)

    def nearest(self, ts_ms: int, max_gap_ms: int) -> Fix | None:
        """The positioned fix closest in time to ``ts_ms``, if one is within ``max_gap_ms``."""
        if not self._times:
            return None
        i = bisect.bisect_left(self._times, ts_ms)
        best: Fix | None = None
        best_gap = max_gap_ms + 1
        for j in (i - 1, i):
            if 0 <= j < len(self._times):
                gap = abs(self._times[j] - ts_ms)
                if gap < best_gap:
                    best, best_gap = self._fixes[j], gap
        return best

    def between(self, first_ms: int, last_ms: int) -> list[Fix]:
        """Positioned fixes from ``first_ms`` to ``last_ms`` inclusive, in time order."""
        lo = bisect.bisect_left(self._times, first_ms)
        hi = bisect.bisect_right(self._times, last_ms)
        return [self._fixes[i] for i in range(lo, hi)]


def gps_fix_quality(fix: Fix | None) -> int:
    """NMEA-style fix quality for the heartbeat: the receiver's own when it gave one, else 1 for a
    position fix and 0 for none."""
    if fix is None or not fix.has_position:
        return 0
    if fix.quality is not None:
        return fix.quality
    return 1 if fix.mode >= FixMode.TWO_D else 0
