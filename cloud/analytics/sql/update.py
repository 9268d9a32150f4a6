"""Folding a flush's new observations into the rollup tables, inside the ingest transaction.

Called by the bridge once per flush with the rows of the batches that were new (duplicates never
get here: the exactly-once store decided that), so a redelivered or repeated batch changes nothing,
and a crash before COMMIT rolls the rollups back with the observations. Steps:

1. attribute each observation to its asset (DeviceHistory at `ts`) and to the campaigns running
   there (CampaignAsset windows), zone by the campaign's GeoJSON (the core's rules, `World`);
2. lock the touched assets (`pg_advisory_xact_lock`, in hash order) so two replicas never fold the
   same track at once; SQLite serializes writers anyway;
3. route: the first GPS fix per asset and UTC minute, upserted keeping the earlier one (route.py);
   presence/active: INSERT ... ON CONFLICT DO NOTHING; seen: upsert with LEAST/GREATEST-like CASE
   for the randomized spans;
4. tracks: for every touched (campaign, asset, zone, hid) load the sessions (and, for the dedup
   rule, the impressions) within one session gap / dedup window of the batch's sightings, replay
   the core's `Track.insert` and `impression_times`, and write only the difference: a late sighting
   that bridges two sessions deletes both rows and inserts the merged one; impressions move with
   their sessions. Sessions farther away cannot be affected (they are > gap apart already).

The state after a set of observations is therefore independent of order and batching, like the
in-memory `Rollup` (tests/campaigns/test_rollup_sql.py checks both agree).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, case, delete, or_, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from cloud.analytics.campaigns import Campaign, ImpressionRule
from cloud.analytics.exposure import zone_of
from cloud.analytics.grains import QUARTER_MS
from cloud.analytics.impressions import PRESENCE_TAIL_MS, impression_times
from cloud.analytics.observations import FLAG_RANDOMIZED, KINDS
from cloud.analytics.rollup import NO_ZONE
from cloud.analytics.route import Fix, first_per_minute
from cloud.analytics.sessions import Track
from cloud.analytics.sql.tables import active, impression, presence, route, seen, session
from cloud.campaigns.world import load_infrastructure, load_world, with_spots
from cloud.ingest.store import Batch, observation_rows
from protocol.bodies import MAX_DT

TrackKey = tuple[str, str, str, str]  # campaign, asset, zone, hid


@dataclass(slots=True)
class RollupStats:
    observations: int = 0
    attributed: int = 0
    campaign_sightings: int = 0
    unknown_kind: int = 0
    infrastructure: int = 0
    unattributed: int = 0
    tracks: int = 0
    sessions_written: int = 0
    impressions_written: int = 0


def _ins(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _lock_assets(conn: Connection, assets: Iterable[str]) -> None:
    if conn.dialect.name != "postgresql":
        return
    keys = sorted(set(assets))
    if keys:
        conn.execute(
            text(
                "SELECT pg_advisory_xact_lock(h) FROM "
                "(SELECT hashtextextended('mob.asset:' || a, 0) AS h FROM unnest(CAST(:a AS text[])) AS a "
                "ORDER BY h) AS s"
            ),
            {"a": keys},
        )


def _seen_upsert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    stmt = _ins(conn)(seen)
    ex = stmt.excluded
    first_wins = or_(
        seen.c.span_first.is_(None),
        and_(
            ex.span_first.is_not(None),
            or_(
                ex.span_first < seen.c.span_first,
                and_(ex.span_first == seen.c.span_first, ex.rssi_first > seen.c.rssi_first),
            ),
        ),
    )
    last_wins = or_(
        seen.c.span_last.is_(None),
        and_(
            ex.span_last.is_not(None),
            or_(
                ex.span_last > seen.c.span_last,
                and_(ex.span_last == seen.c.span_last, ex.rssi_last > seen.c.rssi_last),
            ),
        ),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[c.name for c in seen.primary_key.columns],
        set_={
            "span_first": case((first_wins, ex.span_first), else_=seen.c.span_first),
            "rssi_first": case((first_wins, ex.rssi_first), else_=seen.c.rssi_first),
            "span_last": case((last_wins, ex.span_last), else_=seen.c.span_last),
            "rssi_last": case((last_wins, ex.rssi_last), else_=seen.c.rssi_last),
        },
    )
    conn.execute(stmt, rows)


def _route_upsert(conn: Connection, fixes: dict[tuple[str, int], Fix]) -> None:
    stmt = _ins(conn)(route)
    ex = stmt.excluded
    earlier = or_(
        ex.ts < route.c.ts,
        and_(
            ex.ts == route.c.ts,
            or_(
                ex.lat_e6 < route.c.lat_e6,
                and_(ex.lat_e6 == route.c.lat_e6, ex.lon_e6 < route.c.lon_e6),
            ),
        ),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["asset_id", "minute"],
        set_={"ts": ex.ts, "lat_e6": ex.lat_e6, "lon_e6": ex.lon_e6},
        where=earlier,
    )
    conn.execute(
        stmt,
        [
            {"asset_id": a, "minute": m, "ts": f.ts_ms, "lat_e6": f.lat_e6, "lon_e6": f.lon_e6}
            for (a, m), f in sorted(fixes.items())
        ],
    )


def _load_tracks(
    conn: Connection, campaigns: dict[str, Campaign], pending: dict[TrackKey, list[int]]
) -> dict[TrackKey, Track]:
    """The part of each touched track that the new sightings can reach."""
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    span: dict[tuple[str, str, str], list[int]] = {}
    for (cid, asset, zone, hid), tss in pending.items():
        g = (cid, asset, zone)
        groups[g].append(hid)
        lo, hi = min(tss), max(tss)
        cur = span.get(g)
        span[g] = [lo, hi] if cur is None else [min(cur[0], lo), max(cur[1], hi)]
    tracks: dict[TrackKey, Track] = {k: Track() for k in pending}
    for g, hids in groups.items():
        cid, asset, zone = g
        c = campaigns[cid]
        lo, hi = span[g]
        gap = c.session_gap_ms
        for chunk in _chunks(sorted(hids), 500):
            rows = conn.execute(
                select(session.c.hid, session.c.session_start, session.c.session_end)
                .where(
                    session.c.campaign_id == cid,
                    session.c.asset_id == asset,
                    session.c.zone_id == zone,
                    session.c.hid.in_(chunk),
                    session.c.session_end >= lo - gap,
                    session.c.session_start <= hi + gap,
                )
                .order_by(session.c.hid, session.c.session_start)
            )
            for hid, s, e in rows:
                t = tracks[(cid, asset, zone, hid)]
                t.starts.append(s)
                t.ends.append(e)
            if c.rule is ImpressionRule.DEDUP_WINDOW:
                w = c.dedup_window_ms
                rows = conn.execute(
                    select(impression.c.hid, impression.c.at).where(
                        impression.c.campaign_id == cid,
                        impression.c.asset_id == asset,
                        impression.c.zone_id == zone,
                        impression.c.hid.in_(chunk),
                        impression.c.at >= lo - lo % w,
                        impression.c.at < hi - hi % w + w,
                    )
                )
                for hid, at in rows:
                    tracks[(cid, asset, zone, hid)].windows[at // w] = at
    return tracks


def _chunks(xs: Sequence[str], n: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(xs), n):
        yield xs[i : i + n]


def apply_observations(conn: Connection, rows: Sequence[Sequence[Any]]) -> RollupStats:
    """Fold observation rows (the `observation` table's columns, in order) into the rollups."""
    if not rows:
        return RollupStats()
    return _fold(
        conn,
        len(rows),
        device_ids={r[0] for r in rows},
        t_min=min(r[3] for r in rows),
        t_max=max(r[3] for r in rows),
        rows_of=lambda mounted: [r for r in rows if r[0] in mounted],
    )


def apply_batches(conn: Connection, batches: Sequence[Batch]) -> RollupStats:
    """`apply_observations` for the rows of telemetry batches, built only for mounted sensors."""
    if not batches:
        return RollupStats()
    return _fold(
        conn,
        sum(len(b.obs) for b in batches),
        device_ids={b.device_id for b in batches},
        # A batch spans t0 .. t0 + MAX_DT: a window at least as wide as its rows' (attribution is
        # still decided per row).
        t_min=min(b.t0_ms for b in batches),
        t_max=max(b.t0_ms for b in batches) + MAX_DT,
        rows_of=lambda mounted: [r for b in batches if b.device_id in mounted for r in observation_rows(b)],
    )


def _fold(
    conn: Connection,
    n: int,
    *,
    device_ids: set[str],
    t_min: int,
    t_max: int,
    rows_of: Callable[[frozenset[str]], list[Sequence[Any]]],
) -> RollupStats:
    st = RollupStats(observations=n)
    world = load_world(conn, device_ids=device_ids, t_min=t_min, t_max=t_max)
    # A sensor mounted on no asset in the span contributes to no rollup: its rows are counted as
    # unattributed without being built or walked (kind and infrastructure unchecked).
    mounted = world.attribution.devices
    rows = rows_of(mounted) if mounted else []
    st.unattributed = n - len(rows)
    attribution, campaigns = world.attribution, world.campaigns
    infra = load_infrastructure(conn, {r[5] for r in rows})
    pres: set[tuple[str, int, str]] = set()
    act: set[tuple[str, int]] = set()
    seen_acc: dict[tuple[str, int, str, str, str], list[Any]] = {}
    pending: dict[TrackKey, list[int]] = {}
    randomized_of: dict[str, bool] = {}
    located: list[tuple[str, Fix]] = []
    for r in rows:
        device_id, ts, kind, hid, rssi, flags = r[0], r[3], r[4], r[5], r[6], r[7]
        asset = attribution.asset_at(device_id, ts)
        if asset is not None and r[8] is not None and r[9] is not None:
            located.append((asset, Fix(ts, r[8], r[9])))
        if kind not in KINDS:
            st.unknown_kind += 1
            continue
        if hid in infra:
            st.infrastructure += 1
            continue
        if asset is None:
            st.unattributed += 1
            continue
        st.attributed += 1
        q = ts - ts % QUARTER_MS
        pres.add((asset, q, hid))
        act.add((asset, q))
        cids = attribution.campaigns_at(asset, ts)
        if not cids:
            continue
        rnd = bool(flags & FLAG_RANDOMIZED)
        randomized_of[hid] = rnd
        for cid in cids:
            c = campaigns[cid]
            if rssi < c.passerby_rssi:
                continue
            z = zone_of(c.zones, r[8], r[9]) if c.zones else NO_ZONE
            if z is None:
                continue
            st.campaign_sightings += 1
            key = (cid, q, asset, z, hid)
            acc = seen_acc.get(key)
            if acc is None:
                acc = seen_acc[key] = [rnd, None, None, None, None]
            if rssi >= c.exposure_rssi:
                pending.setdefault((cid, asset, z, hid), []).append(ts)
                if rnd:
                    if acc[1] is None or ts < acc[1] or (ts == acc[1] and rssi > acc[3]):
                        acc[1], acc[3] = ts, rssi
                    if acc[2] is None or ts > acc[2] or (ts == acc[2] and rssi > acc[4]):
                        acc[2], acc[4] = ts, rssi
    fixes = first_per_minute(located)
    if not act and not fixes:
        return st
    _lock_assets(conn, {a for a, _ in act} | {a for a, _ in fixes})
    if fixes:
        _route_upsert(conn, fixes)
    if not act:
        return st
    ins = _ins(conn)
    conn.execute(ins(active).on_conflict_do_nothing(), [{"asset_id": a, "grain": q} for a, q in sorted(act)])
    conn.execute(
        ins(presence).on_conflict_do_nothing(),
        [{"asset_id": a, "grain": q, "hid": h} for a, q, h in sorted(pres)],
    )
    if seen_acc:
        _seen_upsert(
            conn,
            [
                {
                    "campaign_id": cid,
                    "grain": q,
                    "asset_id": a,
                    "zone_id": z,
                    "hid": h,
                    "randomized": v[0],
                    "span_first": v[1],
                    "span_last": v[2],
                    "rssi_first": v[3],
                    "rssi_last": v[4],
                }
                for (cid, q, a, z, h), v in sorted(seen_acc.items())
            ],
        )
    if pending:
        _fold_tracks(conn, campaigns, pending, randomized_of, st)
    return st


def _fold_tracks(
    conn: Connection,
    campaigns: dict[str, Campaign],
    pending: dict[TrackKey, list[int]],
    randomized_of: dict[str, bool],
    st: RollupStats,
) -> None:
    tracks = _load_tracks(conn, campaigns, pending)
    # digital spots: those overlapping what the loaded and new sessions can cover
    spot_campaigns: dict[str, Campaign] = {}
    for cid in {k[0] for k in pending}:
        c = campaigns[cid]
        if c.rule is ImpressionRule.DIGITAL_SPOTS:
            keys = [k for k in pending if k[0] == cid]
            lo = min(min(pending[k] + tracks[k].starts) for k in keys)
            hi = max(max(pending[k] + tracks[k].ends) for k in keys) + PRESENCE_TAIL_MS
            spot_campaigns[cid] = with_spots(conn, c, asset_ids={k[1] for k in keys}, lo_ms=lo, hi_ms=hi + 1)
    del_sessions: list[dict[str, Any]] = []
    add_sessions: list[dict[str, Any]] = []
    del_imps: list[dict[str, Any]] = []
    add_imps: list[dict[str, Any]] = []
    for key, tss in pending.items():
        cid, asset, zone, hid = key
        c = spot_campaigns.get(cid) or campaigns[cid]
        track = tracks[key]
        old_imp = Counter(impression_times(track, c, asset))
        old_sess = set(track.sessions())
        dedup = c.rule is ImpressionRule.DEDUP_WINDOW
        changed = False
        for ts in sorted(tss):
            changed |= track.insert(ts, c.session_gap_ms)
            if dedup:
                changed |= track.note_window(ts, c.dedup_window_ms)
        if not changed:
            continue
        st.tracks += 1
        rnd = randomized_of[hid]
        ids = {"campaign_id": cid, "asset_id": asset, "zone_id": zone, "hid": hid}
        new_sess = set(track.sessions())
        del_sessions += [ids | {"s": s} for s, _ in old_sess - new_sess]
        add_sessions += [
            ids | {"session_start": s, "session_end": e, "grain": s - s % QUARTER_MS, "randomized": rnd}
            for s, e in new_sess - old_sess
        ]
        new_imp = Counter(impression_times(track, c, asset))
        for at in old_imp.keys() | new_imp.keys():
            if old_imp[at] == new_imp[at]:
                continue
            if old_imp[at]:
                del_imps.append(ids | {"a": at})
            if new_imp[at]:
                add_imps.append(
                    ids | {"at": at, "grain": at - at % QUARTER_MS, "n": new_imp[at], "randomized": rnd}
                )
    key_cols = (session.c.campaign_id, session.c.asset_id, session.c.zone_id, session.c.hid)
    if del_sessions:
        conn.execute(
            delete(session).where(
                tuple_(*key_cols, session.c.session_start)
                == tuple_(*(_bp(c.name) for c in key_cols), _bp("s"))
            ),
            del_sessions,
        )
    if add_sessions:
        conn.execute(session.insert(), add_sessions)
    ikey = (impression.c.campaign_id, impression.c.asset_id, impression.c.zone_id, impression.c.hid)
    if del_imps:
        conn.execute(
            delete(impression).where(
                tuple_(*ikey, impression.c.at) == tuple_(*(_bp(c.name) for c in ikey), _bp("a"))
            ),
            del_imps,
        )
    if add_imps:
        conn.execute(impression.insert(), add_imps)
    st.sessions_written += len(add_sessions)
    st.impressions_written += len(add_imps)


def _bp(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name)
