"""The campaign world as the analytics core sees it: value types loaded from the tables.

The ingest calls `load_world` once per flush with the sensors and time span of its observations;
reports call `campaign_for_report`. Nothing is cached in the process (a second replica needs no
warm-up and an ops edit is seen by the next flush).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, and_, or_, select

from cloud.analytics.campaigns import AdSpot as CoreSpot
from cloud.analytics.campaigns import Attribution, DeviceMount, ImpressionRule
from cloud.analytics.campaigns import Campaign as CoreCampaign
from cloud.analytics.campaigns import CampaignAsset as CoreRun
from cloud.analytics.exposure import parse_zone
from cloud.campaigns.models import (
    AdSpot,
    Campaign,
    CampaignAsset,
    DeviceHistory,
    ExposureZone,
    InfrastructureHid,
)
from cloud.core.types import from_ms

_DH = DeviceHistory.__table__  # type: ignore[attr-defined]
_CA = CampaignAsset.__table__  # type: ignore[attr-defined]
_C = Campaign.__table__  # type: ignore[attr-defined]
_Z = ExposureZone.__table__  # type: ignore[attr-defined]
_S = AdSpot.__table__  # type: ignore[attr-defined]
_I = InfrastructureHid.__table__  # type: ignore[attr-defined]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(dt: datetime) -> int:
    """Exact epoch ms (integer arithmetic: no float rounding at the edges of spots and windows)."""
    return (dt - _EPOCH) // _MS


@dataclass(frozen=True, slots=True)
class World:
    attribution: Attribution
    campaigns: dict[str, CoreCampaign]  # without spots: `with_spots` adds the ones a flush needs


def core_campaign(row: object, zones: tuple = ()) -> CoreCampaign:  # type: ignore[type-arg]
    r = row
    return CoreCampaign(
        r.id,  # type: ignore[attr-defined]
        exposure_rssi=r.exposure_rssi,  # type: ignore[attr-defined]
        passerby_rssi=r.passerby_rssi,  # type: ignore[attr-defined]
        dedup_window_ms=r.dedup_window_s * 1000,  # type: ignore[attr-defined]
        session_gap_ms=r.session_gap_s * 1000,  # type: ignore[attr-defined]
        visitor_dwell_ms=r.visitor_dwell_s * 1000,  # type: ignore[attr-defined]
        engaged_dwell_ms=r.engaged_dwell_s * 1000,  # type: ignore[attr-defined]
        zones=zones,
        rule=ImpressionRule(r.rule),  # type: ignore[attr-defined]
        k=r.k,  # type: ignore[attr-defined]
        crew_fraction=r.crew_fraction,  # type: ignore[attr-defined]
    )


def _zones(conn: Connection, campaign_ids: Collection[str]) -> dict[str, tuple]:  # type: ignore[type-arg]
    out: dict[str, list] = {}  # type: ignore[type-arg]
    if campaign_ids:
        rows = conn.execute(
            select(_Z.c.campaign_id, _Z.c.id, _Z.c.geometry)
            .where(_Z.c.campaign_id.in_(sorted(campaign_ids)))
            .order_by(_Z.c.campaign_id, _Z.c.position)
        )
        for cid, zid, geom in rows:
            out.setdefault(cid, []).append(parse_zone(zid, geom))
    return {k: tuple(v) for k, v in out.items()}


def load_campaigns(conn: Connection, campaign_ids: Collection[str]) -> dict[str, CoreCampaign]:
    if not campaign_ids:
        return {}
    zones = _zones(conn, campaign_ids)
    rows = conn.execute(select(_C).where(_C.c.id.in_(sorted(campaign_ids)))).all()
    return {r.id: core_campaign(r, zones.get(r.id, ())) for r in rows}


def load_world(conn: Connection, *, device_ids: Collection[str], t_min: int, t_max: int) -> World:
    """Mounts of these sensors and the campaign windows of their assets overlapping [t_min, t_max]."""
    lo, hi = from_ms(t_min), from_ms(t_max)
    mounts = [
        DeviceMount(
            r.device_id,
            r.asset_id,
            to_ms(r.mounted_at),
            None if r.unmounted_at is None else to_ms(r.unmounted_at),
        )
        for r in conn.execute(
            select(_DH).where(
                _DH.c.device_id.in_(sorted(device_ids)),
                _DH.c.mounted_at <= hi,
                or_(_DH.c.unmounted_at.is_(None), _DH.c.unmounted_at > lo),
            )
        )
    ]
    assets = sorted({m.asset_id for m in mounts})
    runs: list[CoreRun] = []
    if assets:
        runs = [
            CoreRun(r.campaign_id, r.asset_id, to_ms(r.starts_at), to_ms(r.ends_at))
            for r in conn.execute(
                select(_CA).where(_CA.c.asset_id.in_(assets), _CA.c.starts_at <= hi, _CA.c.ends_at > lo)
            )
        ]
    return World(Attribution(mounts, runs), load_campaigns(conn, {r.campaign_id for r in runs}))


def load_infrastructure(conn: Connection, hids: Collection[str]) -> frozenset[str]:
    """The ones among ``hids`` on the infrastructure list (fixed routers and the like)."""
    if not hids:
        return frozenset()
    return frozenset(conn.execute(select(_I.c.hid).where(_I.c.hid.in_(sorted(hids)))).scalars())


def with_spots(
    conn: Connection, campaign: CoreCampaign, *, asset_ids: Collection[str], lo_ms: int, hi_ms: int
) -> CoreCampaign:
    """The campaign with its ad spots on these assets that overlap [lo_ms, hi_ms)."""
    if campaign.rule is not ImpressionRule.DIGITAL_SPOTS:
        return campaign
    rows = conn.execute(
        select(_S.c.asset_id, _S.c.starts_at, _S.c.ends_at).where(
            and_(
                _S.c.campaign_id == campaign.id,
                _S.c.asset_id.in_(sorted(asset_ids)),
                _S.c.ends_at > from_ms(lo_ms),
                _S.c.starts_at < from_ms(hi_ms),
            )
        )
    )
    spots = tuple(CoreSpot(a, to_ms(s), to_ms(e)) for a, s, e in rows)
    return replace(campaign, spots=spots)
