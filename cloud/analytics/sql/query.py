"""Reports from the rollup tables: the same rows, numbers and privacy as the in-memory core.

One pass per table over the campaign's 15-minute cells in the period (the indexes on
(campaign, grain) find them); local hours and days are unions of grains labelled in Python with
zoneinfo (DST-exact, see grains.py); crew comes from `analytics_active`/`analytics_presence` per
shift with one GROUP BY ... HAVING per shift. The row arithmetic (k-anonymity, percentiles, the
randomized estimate) is the core's `build_row`, so the two implementations cannot drift.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import Connection, func, select

from cloud.analytics.campaigns import Campaign
from cloud.analytics.crew import MIN_SHIFT_GRAINS, SHIFT_GAP_MS, shifts
from cloud.analytics.grains import QUARTER_MS, Grain, local_start
from cloud.analytics.rollup import DIMENSIONS, QueryError, Report, _RowAcc, build_row
from cloud.analytics.route import Fix
from cloud.analytics.sql.tables import active, impression, presence, route, seen, session


def crew_map(
    conn: Connection,
    asset_id: str,
    *,
    fraction: float,
    start_ms: int | None = None,
    end_ms: int | None = None,
    shift_gap_ms: int = SHIFT_GAP_MS,
    min_shift_grains: int = MIN_SHIFT_GRAINS,
) -> dict[int, frozenset[str]]:
    """Crew per grain of the asset for the shifts that overlap [start, end) (crew.py's rule)."""
    grains = conn.execute(
        select(active.c.grain).where(active.c.asset_id == asset_id).order_by(active.c.grain)
    ).scalars()
    out: dict[int, frozenset[str]] = {}
    for run in shifts(grains, shift_gap_ms=shift_gap_ms):
        if len(run) < min_shift_grains:
            continue
        if (end_ms is not None and run[0] >= end_ms) or (start_ms is not None and run[-1] < start_ms):
            continue
        crew = frozenset(
            conn.execute(
                select(presence.c.hid)
                .where(
                    presence.c.asset_id == asset_id,
                    presence.c.grain >= run[0],
                    presence.c.grain <= run[-1],
                )
                .group_by(presence.c.hid)
                .having(func.count() > fraction * len(run))
            ).scalars()
        )
        if crew:
            for q in range(run[0], run[-1] + QUARTER_MS, QUARTER_MS):
                out[q] = crew
    return out


def _check(by: Sequence[str]) -> Grain | None:
    for d in by:
        if d not in DIMENSIONS:
            raise QueryError(f"unknown breakdown {d!r}; choose from {', '.join(DIMENSIONS)}")
    time_dims = [d for d in by if d in ("quarter", "hour", "day")]
    if len(time_dims) > 1:
        raise QueryError("choose at most one time grain (quarter, hour or day)")
    return Grain(time_dims[0]) if time_dims else None


def campaign_report(
    conn: Connection,
    campaign: Campaign,
    *,
    by: Sequence[str] = (),
    tz: str = "UTC",
    start_ms: int | None = None,
    end_ms: int | None = None,
    k: int | None = None,
) -> Report:
    """The campaign's metrics broken down by any of asset, zone and one time grain.

    Grains whose start lies in [start_ms, end_ms) are included; pass local day bounds
    (grains.day_bounds_ms) for day reports in a zone.
    """
    c = campaign
    by = tuple(by)
    grain = _check(by)
    k = c.k if k is None else k

    @cache
    def label(q: int) -> tuple[str, int]:
        t = local_start(q, grain, tz)  # type: ignore[arg-type]
        return t.isoformat(), int(t.astimezone(UTC).timestamp() * 1000)

    def where(t):  # type: ignore[no-untyped-def]
        cond = [t.c.campaign_id == c.id]
        if start_ms is not None:
            cond.append(t.c.grain >= start_ms)
        if end_ms is not None:
            cond.append(t.c.grain < end_ms)
        return cond

    crews: dict[str, dict[int, frozenset[str]]] = {}
    empty: frozenset[str] = frozenset()

    def crew_of(asset: str, q: int) -> frozenset[str]:
        m = crews.get(asset)
        if m is None:
            m = crews[asset] = crew_map(
                conn, asset, fraction=c.crew_fraction, start_ms=start_ms, end_ms=end_ms
            )
        return m.get(q, empty)

    rows: dict[tuple[str | None, str | None, str | None], _RowAcc] = {}
    starts: dict[tuple[str | None, str | None, str | None], int] = {}
    rand: dict[str, bool] = {}

    def acc_of(asset: str, zone: str, q: int) -> _RowAcc:
        lab = label(q) if grain else None
        key = (asset if "asset" in by else None, zone if "zone" in by else None, lab[0] if lab else None)
        acc = rows.get(key)
        if acc is None:
            acc = rows[key] = _RowAcc(first_q=q)
            if lab:
                starts[key] = lab[1]
        elif q < acc.first_q:
            acc.first_q = q
        return acc

    t = seen
    for asset, zone, q, hid, rnd, sf, sl, rf, rl in conn.execute(
        select(t.c.asset_id, t.c.zone_id, t.c.grain, t.c.hid, t.c.randomized)
        .add_columns(t.c.span_first, t.c.span_last, t.c.rssi_first, t.c.rssi_last)
        .where(*where(t))
    ):
        acc = acc_of(asset, zone, q)
        if hid in crew_of(asset, q):
            continue
        rand[hid] = rnd
        acc.seen.add(hid)
        if sf is not None:
            target = acc.spans.setdefault((asset, q), {})
            cur = target.get(hid)
            if cur is None:
                target[hid] = [sf, sl, rf, rl]
            else:
                if (sf, -rf) < (cur[0], -cur[2]):
                    cur[0], cur[2] = sf, rf
                if (sl, rl) > (cur[1], cur[3]):
                    cur[1], cur[3] = sl, rl
    t = impression
    for asset, zone, q, hid, n, rnd in conn.execute(
        select(t.c.asset_id, t.c.zone_id, t.c.grain, t.c.hid, t.c.n, t.c.randomized).where(*where(t))
    ):
        acc = acc_of(asset, zone, q)
        if hid in crew_of(asset, q):
            continue
        rand[hid] = rnd
        acc.imp[hid] += n
        aq = (asset, q)
        if rnd:
            acc.rand_imp.setdefault(aq, Counter())[hid] += n
        else:
            acc.nonrand_reach_aq.setdefault(aq, set()).add(hid)
    t = session
    for asset, zone, q, hid, s, e, rnd in conn.execute(
        select(
            t.c.asset_id, t.c.zone_id, t.c.grain, t.c.hid, t.c.session_start, t.c.session_end, t.c.randomized
        )
        .where(*where(t))
        .order_by(t.c.session_start)
    ):
        acc = acc_of(asset, zone, q)
        if hid in crew_of(asset, q):
            continue
        rand[hid] = rnd
        if not rnd:
            acc.sessions.append((hid, e - s))
    out = [
        build_row(c, key, acc, k, randomized=rand, period_start_ms=starts.get(key))
        for key, acc in rows.items()
        if acc.seen or acc.imp or acc.sessions
    ]
    out.sort(key=lambda r: (r.asset_id or "", r.zone_id or "", r.period_start_ms or 0))
    return Report(campaign_id=c.id, tz=tz, by=by, k=k, rows=tuple(out))


def asset_route(conn: Connection, asset_id: str, windows: Sequence[tuple[int, int]]) -> list[Fix]:
    """The asset's per-minute fixes with `ts` in any of the [start, end) windows, oldest first.

    Reads `analytics_route` by its key (asset, minute): one range scan per window.
    """
    out: set[Fix] = set()
    t = route
    for lo, hi in windows:
        rows = conn.execute(
            select(t.c.ts, t.c.lat_e6, t.c.lon_e6).where(
                t.c.asset_id == asset_id,
                t.c.minute > lo - 60_000,
                t.c.minute < hi,
                t.c.ts >= lo,
                t.c.ts < hi,
            )
        )
        out.update(Fix(ts, lat, lon) for ts, lat, lon in rows)
    return sorted(out)


def utc_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise QueryError("naive datetime: give an explicit UTC offset")
    return int(dt.timestamp() * 1000)
