"""What the analytics core is told about the world: campaigns, where they run, and which sensor
sits on which asset when (DeviceHistory). Plain value types; the cloud loads them from its DB.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cloud.analytics.exceptions import CampaignConfigError
from cloud.analytics.exposure import Zone

MINUTE_MS = 60_000


class ImpressionRule(enum.StrEnum):
    DEDUP_WINDOW = "dedup_window"  # once per device per dedup window (MISSION §5, the default)
    STATIC_OTS = "static_ots"  # Geopath static media: once per device session in the zone
    DIGITAL_SPOTS = "digital_spots"  # Geopath digital: once per ad spot shown >= 1 s in the session


@dataclass(frozen=True, slots=True)
class AdSpot:
    """An ad spot shown on a digital asset, [start_ms, end_ms)."""

    asset_id: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class Campaign:
    id: str
    exposure_rssi: int = -70  # impression range: RSSI at or above this
    passerby_rssi: int = -85  # passerby floor
    dedup_window_ms: int = 15 * MINUTE_MS
    session_gap_ms: int = 5 * MINUTE_MS
    visitor_dwell_ms: int = 2 * MINUTE_MS
    engaged_dwell_ms: int = 10 * MINUTE_MS
    zones: tuple[Zone, ...] = ()
    rule: ImpressionRule = ImpressionRule.DEDUP_WINDOW
    spots: tuple[AdSpot, ...] = ()  # DIGITAL_SPOTS only
    min_spot_ms: int = 1000  # a spot counts if shown >= this long while the device is present
    k: int = 5  # k-anonymity
    crew_fraction: float = 0.8  # present in more than this share of a shift = crew
    spots_by_asset: Mapping[str, tuple[tuple[int, int], ...]] = field(init=False, repr=False)
    longest_spot_ms: Mapping[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        def bad(fld: str, reason: str) -> CampaignConfigError:
            return CampaignConfigError(campaign_id=self.id, field=fld, reason=reason)

        if self.passerby_rssi > self.exposure_rssi:
            raise bad("passerby_rssi", "the passerby floor must not be above the exposure threshold")
        if self.dedup_window_ms <= 0 or self.session_gap_ms <= 0:
            raise bad("dedup_window_ms", "windows and gaps must be positive")
        if not 0 <= self.visitor_dwell_ms <= self.engaged_dwell_ms:
            raise bad("engaged_dwell_ms", "need 0 <= visitor dwell <= engaged dwell")
        if self.k < 1:
            raise bad("k", "k must be at least 1")
        if not 0 < self.crew_fraction <= 1:
            raise bad("crew_fraction", "must be in (0, 1]")
        if len({z.id for z in self.zones}) != len(self.zones):
            raise bad("zones", "zone ids must be unique")
        if self.spots and self.rule is not ImpressionRule.DIGITAL_SPOTS:
            raise bad("spots", "spots only apply to the digital_spots rule")
        by_asset: dict[str, list[tuple[int, int]]] = {}
        for s in self.spots:
            if s.end_ms <= s.start_ms:
                raise bad("spots", f"spot on {s.asset_id} ends before it starts")
            by_asset.setdefault(s.asset_id, []).append((s.start_ms, s.end_ms))
        object.__setattr__(self, "spots_by_asset", {a: tuple(sorted(v)) for a, v in by_asset.items()})
        longest = {a: max(e - s for s, e in v) for a, v in by_asset.items()}
        object.__setattr__(self, "longest_spot_ms", longest)


@dataclass(frozen=True, slots=True)
class CampaignAsset:
    """The asset runs the campaign during [start_ms, end_ms)."""

    campaign_id: str
    asset_id: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class DeviceMount:
    """A DeviceHistory row: the sensor was on the asset during [from_ms, until_ms); None = still."""

    device_id: str
    asset_id: str
    from_ms: int
    until_ms: int | None = None


class Attribution:
    """Answers 'which asset did this sensor sit on at t' and 'which campaigns ran on it at t'."""

    def __init__(self, mounts: Iterable[DeviceMount], runs: Iterable[CampaignAsset]) -> None:
        self._mounts: dict[str, tuple[list[int], list[DeviceMount]]] = {}
        by_dev: dict[str, list[DeviceMount]] = {}
        for m in mounts:
            by_dev.setdefault(m.device_id, []).append(m)
        for dev, ms in by_dev.items():
            ms.sort(key=lambda m: m.from_ms)
            self._mounts[dev] = ([m.from_ms for m in ms], ms)
        self._runs: dict[str, list[CampaignAsset]] = {}
        for r in runs:
            self._runs.setdefault(r.asset_id, []).append(r)

    @property
    def devices(self) -> frozenset[str]:
        """The sensors with a mount (anywhere in the loaded span)."""
        return frozenset(self._mounts)

    def asset_at(self, device_id: str, ts_ms: int) -> str | None:
        entry = self._mounts.get(device_id)
        if entry is None:
            return None
        starts, ms = entry
        i = bisect.bisect_right(starts, ts_ms) - 1
        if i < 0:
            return None
        m = ms[i]
        if m.until_ms is not None and ts_ms >= m.until_ms:
            return None
        return m.asset_id

    def campaigns_at(self, asset_id: str, ts_ms: int) -> list[str]:
        return [r.campaign_id for r in self._runs.get(asset_id, ()) if r.start_ms <= ts_ms < r.end_ms]

    def runs_of(self, asset_id: str) -> list[CampaignAsset]:
        return self._runs.get(asset_id, [])
