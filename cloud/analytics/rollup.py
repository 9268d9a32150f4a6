"""The incremental rollup: what the ingest feeds per batch and what the API reads per query.

State (all keyed by hashed ids, never raw rows):

- tracks   (campaign, asset, zone, hid) -> Track: the device's exposure sessions (5-min gap) and,
           for the dedup-window rule, the first sighting of each dedup window. Kept for the
           retention horizon only (`seal`), because a late sighting may still merge sessions.
- cells    (campaign, asset, zone, 15-min UTC grain) -> Cell: per hid, impressions earned in the
           grain, dwells of the sessions that start in it, whether it was seen at the passerby
           floor, and (randomized hids) the span of its exposure sightings for the estimator.
- presence (asset) -> active grains, and per hid the grains it was seen in: crew detection.

`absorb` is order-independent and idempotent: the state after absorbing a set of observations
does not depend on batch order, on late batches, or on a batch absorbed twice (a CRDT-like join;
the property tests check it). When a sighting changes a track, the track's impressions and
sessions are recomputed and only the difference is applied to the cells, so a late sighting
that bridges two sessions removes both and adds the merged one.

Queries (`report`) read cells only: reach is the union of per-cell hid sets, so any period, asset,
zone or local hour/day is answered exactly from 15-minute cells (docs/metrics.md: exact sets
here; HyperLogLog in PostgreSQL at scale). Crew is subtracted at query time.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from cloud.analytics.campaigns import Attribution, Campaign, CampaignAsset, DeviceMount, ImpressionRule
from cloud.analytics.crew import MIN_SHIFT_GRAINS, SHIFT_GAP_MS, crew_by_quarter
from cloud.analytics.estimate import HANDOFF_MS, RSSI_DELTA, Span, estimate_devices
from cloud.analytics.exceptions import AnalyticsError, UnknownCampaignError
from cloud.analytics.exposure import zone_of
from cloud.analytics.grains import Grain, period_key, quarter_of
from cloud.analytics.impressions import impression_times
from cloud.analytics.observations import FLAG_RANDOMIZED, KINDS, Observation
from cloud.analytics.privacy import small
from cloud.analytics.sessions import Track

NO_ZONE = ""  # the zone key of campaigns without zones
DWELL_BUCKETS_MIN = (0, 1, 2, 5, 10, 20)  # bucket lower bounds, minutes
DIMENSIONS = ("asset", "zone", "quarter", "hour", "day")


@dataclass(slots=True)
class Cell:
    impressions: dict[str, int] = field(default_factory=dict)  # hid -> impressions in this grain
    sessions: dict[str, list[int]] = field(default_factory=dict)  # hid -> dwell ms, sessions starting here
    seen: set[str] = field(default_factory=set)  # hids seen at or above the passerby floor
    spans: dict[str, list[int]] = field(default_factory=dict)  # randomized hid -> Span fields


@dataclass(slots=True)
class AbsorbStats:
    """What one `absorb` did with its observations (for ingest metrics; nothing is silent)."""

    observations: int = 0
    attributed: int = 0  # on an asset at that time (DeviceHistory)
    campaign_sightings: int = 0  # (observation, campaign) pairs at or above the passerby floor
    unknown_kind: int = 0
    infrastructure: int = 0
    unattributed: int = 0
    too_late: int = 0  # older than the sealed horizon


@dataclass(frozen=True, slots=True)
class RandomizedMetrics:
    """Randomized-MAC sightings, reported apart. Device figures are modelled, never identities."""

    addresses: int | None  # distinct randomized addresses with an impression
    impressions_by_address: int | None  # raw, one address = one device (inflated)
    estimated_devices: float | None  # modelled reach
    estimated_impressions: float | None
    modelled: bool = True
    method: str = "min chain cover per asset and 15-min grain; non-randomized revisit ratio across grains"


@dataclass(frozen=True, slots=True)
class ReportRow:
    campaign_id: str
    asset_id: str | None  # None when not broken down by asset
    zone_id: str | None
    period: str | None  # ISO-8601 local start of the grain (with its UTC offset)
    period_start_ms: int | None
    impressions: int | None
    reach: int | None
    frequency: float | None
    passersby: int | None
    visitors: int | None
    engaged: int | None
    dwell_median_s: float | None
    dwell_p90_s: float | None
    dwell_buckets: dict[str, int | None]
    randomized: RandomizedMetrics
    suppressed: bool = False
    suppressed_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Report:
    campaign_id: str
    tz: str
    by: tuple[str, ...]
    k: int
    rows: tuple[ReportRow, ...]


class QueryError(AnalyticsError):
    """A report was asked with an unknown or contradictory breakdown."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _nearest_rank(sorted_values: Sequence[int], q: float) -> int:
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def _bucket_label(dwell_ms: int) -> str:
    minutes = dwell_ms / 60_000
    label = f"{DWELL_BUCKETS_MIN[-1]}m+"
    for lo, hi in itertools.pairwise(DWELL_BUCKETS_MIN):
        if lo <= minutes < hi:
            label = f"{lo}-{hi}m"
            break
    return label


BUCKET_LABELS = tuple(
    [f"{lo}-{hi}m" for lo, hi in itertools.pairwise(DWELL_BUCKETS_MIN)] + [f"{DWELL_BUCKETS_MIN[-1]}m+"]
)


@dataclass(slots=True)
class _RowAcc:
    first_q: int
    imp: Counter[str] = field(default_factory=Counter)
    sessions: list[tuple[str, int]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    spans: dict[tuple[str, int], dict[str, list[int]]] = field(default_factory=dict)
    rand_imp: dict[tuple[str, int], Counter[str]] = field(default_factory=dict)
    nonrand_reach_aq: dict[tuple[str, int], set[str]] = field(default_factory=dict)


class Rollup:
    """Incremental audience state for a set of campaigns. Pure: no I/O, no clocks."""

    def __init__(
        self,
        *,
        campaigns: Iterable[Campaign],
        runs: Iterable[CampaignAsset],
        mounts: Iterable[DeviceMount],
        infrastructure: Iterable[str] = (),
        shift_gap_ms: int = SHIFT_GAP_MS,
        min_shift_grains: int = MIN_SHIFT_GRAINS,
        handoff_ms: int = HANDOFF_MS,
        rssi_delta: int = RSSI_DELTA,
    ) -> None:
        self.campaigns: dict[str, Campaign] = {c.id: c for c in campaigns}
        runs = list(runs)
        for r in runs:
            if r.campaign_id not in self.campaigns:
                raise UnknownCampaignError(r.campaign_id)
        self.attribution = Attribution(mounts, runs)
        self.infrastructure = frozenset(infrastructure)
        self.shift_gap_ms = shift_gap_ms
        self.min_shift_grains = min_shift_grains
        self.handoff_ms = handoff_ms
        self.rssi_delta = rssi_delta
        self.sealed_before: int | None = None
        self.tracks: dict[tuple[str, str, str, str], Track] = {}
        self.cells: dict[str, dict[tuple[str, str, int], Cell]] = {cid: {} for cid in self.campaigns}
        self.active: dict[str, set[int]] = {}
        self.presence: dict[str, dict[str, set[int]]] = {}
        self.randomized: dict[str, bool] = {}
        self._version: dict[str, int] = {}
        self._crew_cache: dict[tuple[str, float], tuple[int, dict[int, frozenset[str]]]] = {}

    # ---- ingest side -------------------------------------------------------------------------

    def absorb(self, observations: Iterable[Observation | Sequence]) -> AbsorbStats:
        """Fold a batch of observations (any order, late or repeated) into the state."""
        st = AbsorbStats()
        pending: dict[tuple[str, str, str, str], list[int]] = {}
        attribution = self.attribution
        campaigns = self.campaigns
        sealed = self.sealed_before
        for o in observations:
            device_id, ts, kind, hid, rssi, flags = o[0], o[1], o[2], o[3], o[4], o[5]
            st.observations += 1
            if kind not in KINDS:
                st.unknown_kind += 1
                continue
            if sealed is not None and ts < sealed:
                st.too_late += 1
                continue
            if hid in self.infrastructure:
                st.infrastructure += 1
                continue
            asset = attribution.asset_at(device_id, ts)
            if asset is None:
                st.unattributed += 1
                continue
            st.attributed += 1
            q = ts - ts % 900_000
            randomized = bool(flags & FLAG_RANDOMIZED)
            self.randomized[hid] = randomized
            act = self.active.setdefault(asset, set())
            pres = self.presence.setdefault(asset, {}).setdefault(hid, set())
            if q not in pres:
                pres.add(q)
                act.add(q)
                self._version[asset] = self._version.get(asset, 0) + 1
            cids = attribution.campaigns_at(asset, ts)
            if not cids:
                continue
            lat = o[6] if len(o) > 6 else None
            lon = o[7] if len(o) > 7 else None
            for cid in cids:
                c = campaigns[cid]
                if rssi < c.passerby_rssi:
                    continue
                if c.zones:
                    z = zone_of(c.zones, lat, lon)
                    if z is None:
                        continue
                else:
                    z = NO_ZONE
                st.campaign_sightings += 1
                cells = self.cells[cid]
                cell = cells.get((asset, z, q))
                if cell is None:
                    cell = cells[(asset, z, q)] = Cell()
                cell.seen.add(hid)
                if rssi >= c.exposure_rssi:
                    pending.setdefault((cid, asset, z, hid), []).append(ts)
                    if randomized:
                        sp = cell.spans.get(hid)
                        if sp is None:
                            cell.spans[hid] = [ts, ts, rssi, rssi]
                        else:
                            if ts < sp[0] or (ts == sp[0] and rssi > sp[2]):
                                sp[0], sp[2] = ts, rssi
                            if ts > sp[1] or (ts == sp[1] and rssi > sp[3]):
                                sp[1], sp[3] = ts, rssi
        for key, tss in pending.items():
            tss.sort()
            self._update_track(key, tss)
        return st

    def _cell(self, cid: str, asset: str, zone: str, q: int) -> Cell:
        cells = self.cells[cid]
        cell = cells.get((asset, zone, q))
        if cell is None:
            cell = cells[(asset, zone, q)] = Cell()
        return cell

    def _update_track(self, key: tuple[str, str, str, str], tss: list[int]) -> None:
        cid, asset, zone, hid = key
        c = self.campaigns[cid]
        track = self.tracks.get(key)
        if track is None:
            track = self.tracks[key] = Track()
        old_imp = impression_times(track, c, asset)
        old_sess = track.sessions()
        changed = False
        dedup = c.rule is ImpressionRule.DEDUP_WINDOW
        for ts in tss:
            changed |= track.insert(ts, c.session_gap_ms)
            if dedup:
                changed |= track.note_window(ts, c.dedup_window_ms)
        if not changed:
            return
        delta = Counter(quarter_of(t) for t in impression_times(track, c, asset))
        delta.subtract(Counter(quarter_of(t) for t in old_imp))
        for q, d in delta.items():
            if d:
                imp = self._cell(cid, asset, zone, q).impressions
                n = imp.get(hid, 0) + d
                if n:
                    imp[hid] = n
                else:
                    del imp[hid]
        old, new = set(old_sess), set(track.sessions())
        for s, e in old - new:
            sess = self._cell(cid, asset, zone, quarter_of(s)).sessions
            sess[hid].remove(e - s)
            if not sess[hid]:
                del sess[hid]
        for s, e in new - old:
            self._cell(cid, asset, zone, quarter_of(s)).sessions.setdefault(hid, []).append(e - s)

    def seal(self, before_ms: int) -> int:
        """Close the retention horizon: forget tracks that a sighting at or after `before_ms` can
        no longer touch, and refuse observations older than it from now on (`too_late`).

        Cells (the aggregates) are kept. Returns the number of tracks forgotten.
        """
        before_ms = quarter_of(before_ms)
        self.sealed_before = before_ms if self.sealed_before is None else max(self.sealed_before, before_ms)
        dropped = 0
        for key in list(self.tracks):
            c = self.campaigns[key[0]]
            t = self.tracks[key]
            reach = max(c.session_gap_ms, c.dedup_window_ms)
            if t.ends and t.ends[-1] + reach < self.sealed_before:
                del self.tracks[key]
                dropped += 1
        return dropped

    # ---- query side --------------------------------------------------------------------------

    def crew(self, asset_id: str, fraction: float) -> dict[int, frozenset[str]]:
        """Crew per grain of the asset (cached until the asset's presence changes)."""
        version = self._version.get(asset_id, 0)
        hit = self._crew_cache.get((asset_id, fraction))
        if hit is not None and hit[0] == version:
            return hit[1]
        result = crew_by_quarter(
            self.active.get(asset_id, ()),
            self.presence.get(asset_id, {}),
            fraction=fraction,
            shift_gap_ms=self.shift_gap_ms,
            min_shift_grains=self.min_shift_grains,
        )
        self._crew_cache[(asset_id, fraction)] = (version, result)
        return result

    def report(
        self,
        campaign_id: str,
        *,
        by: Sequence[str] = (),
        tz: str = "UTC",
        start_ms: int | None = None,
        end_ms: int | None = None,
        k: int | None = None,
    ) -> Report:
        """Metrics of a campaign broken down by any of asset, zone and one time grain.

        `start_ms`/`end_ms` select 15-minute grains whose start lies in [start, end); pass the
        bounds of local days from grains.day_bounds_ms for a day report.
        """
        c = self.campaigns.get(campaign_id)
        if c is None:
            raise UnknownCampaignError(campaign_id)
        by = tuple(by)
        for d in by:
            if d not in DIMENSIONS:
                raise QueryError(f"unknown breakdown {d!r}; choose from {', '.join(DIMENSIONS)}")
        time_dims = [d for d in by if d in ("quarter", "hour", "day")]
        if len(time_dims) > 1:
            raise QueryError("choose at most one time grain (quarter, hour or day)")
        grain = Grain(time_dims[0]) if time_dims else None
        k = c.k if k is None else k
        label = lru_cache(maxsize=None)(lambda q: period_key(q, grain, tz))
        rand = self.randomized
        rows: dict[tuple[str | None, str | None, str | None], _RowAcc] = {}
        crew_maps: dict[str, dict[int, frozenset[str]]] = {}
        empty: frozenset[str] = frozenset()
        for (asset, zone, q), cell in self.cells[campaign_id].items():
            if (start_ms is not None and q < start_ms) or (end_ms is not None and q >= end_ms):
                continue
            crew_map = crew_maps.get(asset)
            if crew_map is None:
                crew_map = crew_maps[asset] = self.crew(asset, c.crew_fraction)
            crew = crew_map.get(q, empty)
            key = (
                asset if "asset" in by else None,
                zone if "zone" in by else None,
                label(q) if grain else None,
            )
            acc = rows.get(key)
            if acc is None:
                acc = rows[key] = _RowAcc(first_q=q)
            acc.first_q = min(acc.first_q, q)
            aq = (asset, q)
            for hid, n in cell.impressions.items():
                if hid in crew:
                    continue
                acc.imp[hid] += n
                if rand.get(hid):
                    acc.rand_imp.setdefault(aq, Counter())[hid] += n
                else:
                    acc.nonrand_reach_aq.setdefault(aq, set()).add(hid)
            for hid, dwells in cell.sessions.items():
                if hid not in crew and not rand.get(hid):
                    acc.sessions.extend((hid, dw) for dw in dwells)
            acc.seen.update(h for h in cell.seen if h not in crew)
            if cell.spans:
                target = acc.spans.setdefault(aq, {})
                for hid, sp in cell.spans.items():
                    if hid in crew:
                        continue
                    cur = target.get(hid)
                    if cur is None:
                        target[hid] = list(sp)
                    else:
                        if (sp[0], -sp[2]) < (cur[0], -cur[2]):
                            cur[0], cur[2] = sp[0], sp[2]
                        if (sp[1], sp[3]) > (cur[1], cur[3]):
                            cur[1], cur[3] = sp[1], sp[3]
        # a row whose only devices were crew is not a row
        out = [self._row(c, key, acc, k) for key, acc in rows.items() if acc.seen or acc.imp or acc.sessions]
        out.sort(key=lambda r: (r.asset_id or "", r.zone_id or "", r.period_start_ms or 0))
        return Report(campaign_id=campaign_id, tz=tz, by=by, k=k, rows=tuple(out))

    def _row(
        self, c: Campaign, key: tuple[str | None, str | None, str | None], acc: _RowAcc, k: int
    ) -> ReportRow:
        return build_row(
            c, key, acc, k, randomized=self.randomized, handoff_ms=self.handoff_ms, rssi_delta=self.rssi_delta
        )


def build_row(
    c: Campaign,
    key: tuple[str | None, str | None, str | None],
    acc: _RowAcc,
    k: int,
    *,
    randomized: Mapping[str, bool],
    handoff_ms: int = HANDOFF_MS,
    rssi_delta: int = RSSI_DELTA,
    period_start_ms: int | None = None,
) -> ReportRow:
    """One report row from its accumulated cells (shared by the in-memory and the SQL rollup)."""
    rand = randomized
    asset, zone, period = key
    nonrand_imp = {h: n for h, n in acc.imp.items() if not rand.get(h)}
    impressions = sum(nonrand_imp.values())
    reach = len(nonrand_imp)
    passersby = sum(1 for h in acc.seen if not rand.get(h))
    dwell_hids: dict[int, set[str]] = {}
    visitors: set[str] = set()
    engaged: set[str] = set()
    dwells = sorted(dw for _, dw in acc.sessions)
    bucket_hids: dict[str, set[str]] = {b: set() for b in BUCKET_LABELS}
    bucket_n: Counter[str] = Counter()
    for hid, dw in acc.sessions:
        dwell_hids.setdefault(dw, set()).add(hid)
        if dw >= c.visitor_dwell_ms:
            visitors.add(hid)
        if dw >= c.engaged_dwell_ms:
            engaged.add(hid)
        b = _bucket_label(dw)
        bucket_hids[b].add(hid)
        bucket_n[b] += 1
    session_devices = len({h for h, _ in acc.sessions})

    # randomized: estimate per (asset, grain), then the revisit ratio of non-randomized devices
    est_sum = 0
    est_imp = 0.0
    for aq, spans in acc.spans.items():
        est = estimate_devices(
            (Span(*sp) for sp in spans.values()), handoff_ms=handoff_ms, rssi_delta=rssi_delta
        )
        est_sum += est
        imp_aq = acc.rand_imp.get(aq)
        if imp_aq:
            est_imp += sum(imp_aq.values()) * est / len(spans)
    nonrand_aq = sum(len(s) for s in acc.nonrand_reach_aq.values())
    ratio = reach / nonrand_aq if nonrand_aq else 1.0
    rand_addresses = sum(1 for h in acc.imp if rand.get(h))
    rand_imp = sum(n for h, n in acc.imp.items() if rand.get(h))
    est_devices = est_sum * ratio

    audience = passersby + est_devices
    base = dict(
        campaign_id=c.id,
        asset_id=asset,
        zone_id=zone,
        period=period,
        period_start_ms=None
        if period is None
        else acc.first_q
        if period_start_ms is None
        else period_start_ms,
    )
    if small(audience, k):
        return ReportRow(
            **base,
            impressions=None,
            reach=None,
            frequency=None,
            passersby=None,
            visitors=None,
            engaged=None,
            dwell_median_s=None,
            dwell_p90_s=None,
            dwell_buckets=dict.fromkeys(BUCKET_LABELS),
            randomized=RandomizedMetrics(None, None, None, None),
            suppressed=True,
            suppressed_fields=("*",),
        )
    hidden: list[str] = []

    def show(name: str, devices: float, value: float | None) -> float | None:
        if small(devices, k):
            hidden.append(name)
            return None
        return value

    rimp = show("impressions", reach, impressions)
    rreach = show("reach", reach, reach)
    freq = show("frequency", reach, round(impressions / reach, 3) if reach else None)
    rpass = show("passersby", passersby, passersby)
    rvis = show("visitors", len(visitors), len(visitors))
    reng = show("engaged", len(engaged), len(engaged))
    median = show("dwell_median_s", session_devices, _nearest_rank(dwells, 0.5) / 1000 if dwells else None)
    p90 = show("dwell_p90_s", session_devices, _nearest_rank(dwells, 0.9) / 1000 if dwells else None)
    buckets: dict[str, int | None] = {}
    for b in BUCKET_LABELS:
        if small(len(bucket_hids[b]), k):
            hidden.append(f"dwell_buckets.{b}")
            buckets[b] = None
        else:
            buckets[b] = bucket_n[b]
    r_est = show("randomized.estimated_devices", est_devices, round(est_devices, 1))
    r_addr = show("randomized.addresses", rand_addresses, rand_addresses)
    r_imp = show("randomized.impressions_by_address", rand_addresses, rand_imp)
    r_est_imp = show("randomized.estimated_impressions", est_devices, round(est_imp * ratio, 1))
    return ReportRow(
        **base,
        impressions=rimp,
        reach=rreach,
        frequency=freq,
        passersby=rpass,
        visitors=rvis,
        engaged=reng,
        dwell_median_s=median,
        dwell_p90_s=p90,
        dwell_buckets=buckets,
        randomized=RandomizedMetrics(r_addr, r_imp, r_est, r_est_imp),
        suppressed=False,
        suppressed_fields=tuple(hidden),
    )


__all__ = [
    "DIMENSIONS",
    "NO_ZONE",
    "AbsorbStats",
    "Cell",
    "QueryError",
    "RandomizedMetrics",
    "Report",
    "ReportRow",
    "Rollup",
    "build_row",
]
