"""Time grains: the 15-minute UTC grain is the atom; hours and days are local, built from it.

Every IANA zone in use today has a UTC offset that is a multiple of 15 minutes (+05:30, +05:45,
+08:45 included), so every local hour and local midnight falls on a 15-minute UTC boundary. The
rollup therefore keeps cells per 15-minute UTC grain only, and local hours/days are unions of
grains computed at query time with zoneinfo, which makes DST days come out right: the local day of
a spring-forward has 23 hours (92 grains), the fall-back day 25 hours, and the repeated local hour
is reported twice, told apart by its UTC offset.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloud.analytics.exceptions import TimeZoneError

QUARTER_MS = 15 * 60 * 1000
HOUR_MS = 4 * QUARTER_MS


class Grain(enum.StrEnum):
    QUARTER = "quarter"  # 15 minutes
    HOUR = "hour"  # local hour
    DAY = "day"  # local calendar day


def quarter_of(ts_ms: int) -> int:
    """Start (UTC ms) of the 15-minute grain holding `ts_ms`."""
    return ts_ms - ts_ms % QUARTER_MS


@lru_cache(maxsize=64)
def zone(tz: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name, or TimeZoneError."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError) as e:  # OSError: a directory name ("Europe")
        raise TimeZoneError(tz=tz, reason="not a known IANA time zone") from e


def local_start(quarter_ms: int, grain: Grain, tz: str) -> datetime:
    """The local (aware) start of the `grain` period that holds the 15-minute grain `quarter_ms`.

    For HOUR during a fall-back, the two 01:00 (say) hours are distinct datetimes (fold 0 and 1
    carry different offsets), so they stay distinct periods.
    """
    zi = zone(tz)
    t = datetime.fromtimestamp(quarter_ms / 1000, tz=UTC).astimezone(zi)
    off = t.utcoffset()
    if off is None or (off.total_seconds() % 900) != 0:
        raise TimeZoneError(tz=tz, reason=f"UTC offset {off} is not a multiple of 15 minutes at {t}")
    if grain is Grain.QUARTER:
        return t
    if grain is Grain.HOUR:
        # Subtracting in UTC keeps the offset (and fold) of the hour we are in.
        return (t.astimezone(UTC) - timedelta(minutes=t.minute)).astimezone(zi)
    midnight = datetime(t.year, t.month, t.day, tzinfo=zi)
    return midnight


def period_key(quarter_ms: int, grain: Grain | None, tz: str) -> str:
    """ISO-8601 local start of the period (with its offset), the label a report row carries."""
    if grain is None:
        return ""
    return local_start(quarter_ms, grain, tz).isoformat()


def day_bounds_ms(year: int, month: int, day: int, tz: str) -> tuple[int, int]:
    """UTC ms [start, end) of a local calendar day (23, 24 or 25 hours long)."""
    zi = zone(tz)
    start = datetime(year, month, day, tzinfo=zi)
    end = datetime.combine(start.date() + timedelta(days=1), datetime.min.time(), tzinfo=zi)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)
