"""The GPS route of an asset: its first fix in each UTC minute, and how a long route is thinned.

A fix is a (ts, lat_e6, lon_e6) a sensor reported while mounted on the asset (DeviceHistory), from
any observation that carries coordinates: the sensor reports where *it* is, whatever it heard, so
sightings of crew or infrastructure still place the asset. Per asset and UTC minute the rollup keeps
the earliest fix (ties: smallest lat, then lon), which makes it independent of arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cloud.analytics.campaigns import MINUTE_MS


@dataclass(frozen=True, order=True, slots=True)
class Fix:
    ts_ms: int
    lat_e6: int
    lon_e6: int


def minute_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % MINUTE_MS


def first_per_minute(fixes: Iterable[tuple[str, Fix]]) -> dict[tuple[str, int], Fix]:
    """(asset, fix) pairs -> the earliest fix per (asset, UTC minute)."""
    out: dict[tuple[str, int], Fix] = {}
    for asset, f in fixes:
        key = (asset, minute_of(f.ts_ms))
        cur = out.get(key)
        if cur is None or f < cur:
            out[key] = f
    return out


def downsample(points: Sequence[Fix], max_points: int) -> list[Fix]:
    """At most `max_points` (>= 2) evenly spaced by index, always keeping the first and the last."""
    n = len(points)
    if n <= max_points:
        return list(points)
    step = (n - 1) / (max_points - 1)
    return [points[round(i * step)] for i in range(max_points)]
