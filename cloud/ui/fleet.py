"""What the ops pages show, read from the database: counts, the attention list, the device table.

Queries only; no HTTP and no templates. Presence words follow `cloud/presence/RULES.md`; "stale" is
the UI's name for an online device whose heartbeat is overdue (late, but still inside its grace).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, or_, select

from cloud.campaigns.models import Asset, DeviceHistory
from cloud.ingest.models import DeadLetter, TelemetryBatch, TelemetryGap
from cloud.presence.rules import Policy
from cloud.registry.models import Device, DeviceState, PresenceStatus, StatusChange

STATUSES = ("online", "stale", "offline", "sleeping", "unknown")


def shown_status(device: Device, now: datetime, policy: Policy) -> str:
    """online | stale | offline | sleeping | unknown: presence, with overdue heartbeats called stale."""
    if device.status == PresenceStatus.ONLINE and device.last_heartbeat_at is not None:
        interval = device.heartbeat_interval_s or policy.default_interval_s
        if (now - device.last_heartbeat_at).total_seconds() > 1.5 * interval:
            return "stale"
    return device.status


def heartbeat_lag_s(device: Device, now: datetime, policy: Policy) -> float | None:
    """Seconds past the expected next heartbeat (negative: not due yet); None before the first one."""
    if device.last_heartbeat_at is None:
        return None
    interval = device.heartbeat_interval_s or policy.default_interval_s
    return (now - device.last_heartbeat_at).total_seconds() - interval


@dataclass(frozen=True)
class Mount:
    """The asset a sensor sits on now (campaigns' DeviceHistory), by id and display name."""

    asset_id: str
    name: str


def mounts(session: Session, *, now: datetime, device_ids: list[str] | None = None) -> dict[str, Mount]:
    """Device id -> its current mount: a DeviceHistory row begun by `now` and not ended by then.

    The campaigns service refuses overlapping mounts of one device, so there is at most one such row.
    A device with none is not on any asset: the UI says so rather than guessing from labels.
    """
    stmt = (
        select(DeviceHistory.device_id, Asset.id, Asset.name)
        .join(Asset, col(Asset.id) == col(DeviceHistory.asset_id))
        .where(_current(now))
        .order_by(col(DeviceHistory.mounted_at))
    )
    if device_ids is not None:
        stmt = stmt.where(col(DeviceHistory.device_id).in_(device_ids))
    return {device_id: Mount(asset_id, name) for device_id, asset_id, name in session.exec(stmt).all()}


def _current(now: datetime) -> Any:
    return (col(DeviceHistory.mounted_at) <= now) & or_(
        col(DeviceHistory.unmounted_at).is_(None), col(DeviceHistory.unmounted_at) > now
    )


@dataclass
class Breakdown:
    """Devices per value of one dimension (hardware, firmware, asset), split by shown status.

    Rows are keyed by what the device list filters on (an asset's id); `names` shows them when the key
    is not what a human reads.
    """

    dimension: str
    rows: dict[str, Counter[str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def add(self, key: str | None, status: str) -> None:
        self.rows.setdefault(key or "—", Counter())[status] += 1

    def sorted_rows(self) -> list[tuple[str, Counter[str], int]]:
        out = [(k, c, sum(c.values())) for k, c in self.rows.items()]
        return sorted(out, key=lambda r: (-r[2], r[0]))


@dataclass(frozen=True)
class Attention:
    """One device that needs a human, with why (most urgent first in the overview)."""

    device_id: str
    status: str
    why: str
    since: datetime | None
    rank: int  # 0 offline, 1 failed OTA, 2 gaps, 3 dropped, 4 stale, 5 flapping


@dataclass
class Overview:
    total: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_state: Counter[str] = field(default_factory=Counter)
    flapping: int = 0
    hardware: Breakdown = field(default_factory=lambda: Breakdown("hardware"))
    firmware: Breakdown = field(default_factory=lambda: Breakdown("firmware"))
    asset: Breakdown = field(default_factory=lambda: Breakdown("asset"))
    attention: list[Attention] = field(default_factory=list)
    dead_letters_24h: int = 0
    open_gaps: int = 0
    missing_batches: int = 0


def counts(session: Session, *, now: datetime, policy: Policy) -> dict[str, int]:
    """Shown-status and lifecycle counts, cheap enough to send to every live page every few seconds."""
    out: Counter[str] = Counter({s: 0 for s in STATUSES})
    rows = session.exec(
        select(Device.status, Device.state, Device.last_heartbeat_at, Device.heartbeat_interval_s).where(
            col(Device.state) != DeviceState.RETIRED
        )
    ).all()
    for status, state, last_hb, interval in rows:
        shown = status
        late = last_hb is not None and (now - last_hb).total_seconds() > 1.5 * (
            interval or policy.default_interval_s
        )
        if status == PresenceStatus.ONLINE and late:
            shown = "stale"
        out[shown] += 1
        if state == DeviceState.QUARANTINED:
            out["quarantined"] += 1
    out["total"] = len(rows)
    return dict(out)


def overview(
    session: Session, *, now: datetime, policy: Policy, failed_jobs: dict[str, str] | None = None
) -> Overview:
    """Everything the overview page shows. `failed_jobs`: device id -> reason, from the rollout seam."""
    ov = Overview()
    devices = session.exec(select(Device).where(col(Device.state) != DeviceState.RETIRED)).all()
    gaps = dict(
        session.exec(
            select(
                TelemetryGap.device_id,
                func.sum(col(TelemetryGap.last_batch) - col(TelemetryGap.first_batch) + 1),
            )
            .where(col(TelemetryGap.closed_at).is_(None))
            .group_by(col(TelemetryGap.device_id))
        ).all()
    )
    ov.open_gaps = int(
        session.exec(
            select(func.count()).select_from(TelemetryGap).where(col(TelemetryGap.closed_at).is_(None))
        ).one()
    )
    ov.missing_batches = int(sum(gaps.values()))
    ov.dead_letters_24h = int(
        session.exec(
            select(func.count())
            .select_from(DeadLetter)
            .where(col(DeadLetter.received_at) >= now - timedelta(hours=24))
        ).one()
    )
    failed_jobs = failed_jobs or {}
    mounted = mounts(session, now=now)
    ov.asset.names = {m.asset_id: m.name for m in mounted.values()}
    for d in devices:
        status = shown_status(d, now, policy)
        ov.total += 1
        ov.by_status[status] += 1
        ov.by_state[d.state] += 1
        ov.flapping += int(d.flapping)
        ov.hardware.add(d.hardware, status)
        ov.firmware.add(d.firmware_version, status)
        ov.asset.add(mounted[d.id].asset_id if d.id in mounted else None, status)
        dropped = int((d.health or {}).get("dropped") or 0)
        if status == PresenceStatus.OFFLINE:
            ov.attention.append(
                Attention(d.id, status, f"offline ({d.status_reason or '?'})", d.status_since, 0)
            )
        if d.id in failed_jobs:
            ov.attention.append(Attention(d.id, status, f"OTA failed: {failed_jobs[d.id]}", None, 1))
        if gaps.get(d.id):
            ov.attention.append(
                Attention(d.id, status, f"{int(gaps[d.id])} telemetry batches missing", None, 2)
            )
        if dropped:
            ov.attention.append(
                Attention(d.id, status, f"{dropped} observations dropped (outbox full)", None, 3)
            )
        if status == "stale":
            ov.attention.append(Attention(d.id, status, "heartbeat overdue", d.last_heartbeat_at, 4))
        if d.flapping:
            ov.attention.append(Attention(d.id, status, "flapping connection", d.status_since, 5))
    # Offline longest first, then by kind of trouble.
    ov.attention.sort(key=lambda a: (a.rank, a.since or now, a.device_id))
    return ov


SORTS = {
    "id": col(Device.id),
    "status": col(Device.status),
    "hardware": col(Device.hardware),
    "firmware": col(Device.firmware_version),
    "last_seen": col(Device.last_seen),
    "since": col(Device.status_since),
    "heartbeat": col(Device.last_heartbeat_at),
}


@dataclass(frozen=True)
class DeviceQuery:
    status: str | None = None
    state: str | None = None
    hardware: str | None = None
    firmware: str | None = None
    asset: str | None = None  # an asset id: devices mounted on it now
    q: str | None = None
    sort: str = "id"
    desc: bool = False
    page: int = 1
    per_page: int = 25


def device_page(
    session: Session, query: DeviceQuery, *, now: datetime, policy: Policy
) -> tuple[list[Device], int]:
    """One page of devices matching `query`, and how many match in all."""
    stmt = select(Device)
    if query.status == "stale":
        stmt = stmt.where(Device.status == PresenceStatus.ONLINE)
    elif query.status:
        stmt = stmt.where(Device.status == query.status)
    if query.state:
        stmt = stmt.where(Device.state == query.state)
    if query.hardware:
        stmt = stmt.where(Device.hardware == query.hardware)
    if query.firmware:
        stmt = stmt.where(Device.firmware_version == query.firmware)
    if query.asset:
        on_asset = select(DeviceHistory.device_id).where(DeviceHistory.asset_id == query.asset, _current(now))
        stmt = stmt.where(col(Device.id).in_(on_asset))
    if query.q:
        like = f"%{query.q.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(col(Device.id)).like(like),
                func.lower(func.coalesce(col(Device.serial), "")).like(like),
                func.lower(func.coalesce(col(Device.firmware_version), "")).like(like),
                func.lower(func.coalesce(col(Device.tenant), "")).like(like),
            )
        )
    order = SORTS.get(query.sort, SORTS["id"])
    order = order.desc() if query.desc else order.asc()
    stmt = stmt.order_by(order.nulls_last(), col(Device.id))
    # Stale is decided in Python (by time against each device's interval), so it pages there.
    if query.status == "stale":
        rows = [d for d in session.exec(stmt).all() if shown_status(d, now, policy) == "stale"]
        start = (query.page - 1) * query.per_page
        return rows[start : start + query.per_page], len(rows)
    total = int(session.exec(select(func.count()).select_from(stmt.order_by(None).subquery())).one())
    page = session.exec(stmt.offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    return list(page), total


def choices(session: Session, *, now: datetime) -> dict[str, list[tuple[str, str]]]:
    """Values seen in the fleet, for the filter drop-downs, as (value, shown): assets with a sensor now."""
    hw = session.exec(select(Device.hardware).distinct()).all()
    fw = session.exec(select(Device.firmware_version).distinct()).all()
    assets = {(m.asset_id, m.name) for m in mounts(session, now=now).values()}
    return {
        "hardware": [(h, h) for h in sorted(h for h in hw if h)],
        "firmware": [(f, f) for f in sorted(f for f in fw if f)],
        "asset": sorted(assets, key=lambda a: (a[1], a[0])),
    }


def status_history(
    session: Session, device_id: str, *, since: datetime
) -> tuple[str | None, list[StatusChange]]:
    """(status before `since`, transitions after it, oldest first) for the timeline."""
    before = session.exec(
        select(StatusChange)
        .where(StatusChange.device_id == device_id, col(StatusChange.at) < since)
        .order_by(col(StatusChange.at).desc(), col(StatusChange.id).desc())
        .limit(1)
    ).first()
    after = session.exec(
        select(StatusChange)
        .where(StatusChange.device_id == device_id, col(StatusChange.at) >= since)
        .order_by(col(StatusChange.at), col(StatusChange.id))
    ).all()
    return (before.to_status if before else None), list(after)


def recent_batches(session: Session, device_id: str, *, limit: int = 120) -> list[TelemetryBatch]:
    """The device's latest telemetry batches (by device time), oldest first, for the delivery chart."""
    rows = session.exec(
        select(TelemetryBatch)
        .where(TelemetryBatch.device_id == device_id)
        .order_by(col(TelemetryBatch.t0_ms).desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))


def dead_letters(session: Session, *, device_id: str | None = None, limit: int = 50) -> list[DeadLetter]:
    stmt = select(DeadLetter)
    if device_id:
        stmt = stmt.where(DeadLetter.device_id == device_id)
    return list(session.exec(stmt.order_by(col(DeadLetter.id).desc()).limit(limit)).all())


def tracks(session: Session, *, since: datetime) -> dict[str, list[tuple[datetime, float, float]]]:
    """Per device, one position a minute (the mean of its observations' sensor GPS) since `since`.

    Observations carry the sensor's position (protocol v1 telemetry rows). The table has no index on
    purpose (MISSION §10), so this scans it: fine for a demo fleet; at scale the map should read an
    hourly position rollup (analytics) instead.
    """
    from cloud.core.types import from_ms, to_ms
    from cloud.ingest.models import observation as obs

    minute = (obs.c.ts_ms / 60000).label("minute")
    rows = session.execute(
        select(  # type: ignore[call-overload]
            obs.c.device_id,
            minute,
            func.max(obs.c.ts_ms),
            func.avg(obs.c.lat_e6),
            func.avg(obs.c.lon_e6),
        )
        .where(obs.c.ts_ms >= to_ms(since), obs.c.lat_e6.is_not(None), obs.c.lon_e6.is_not(None))
        .group_by(obs.c.device_id, minute)
        .order_by(obs.c.device_id, minute)
    ).all()
    out: dict[str, list[tuple[datetime, float, float]]] = defaultdict(list)
    for device_id, _minute, ts, lat, lon in rows:
        out[device_id].append((from_ms(int(ts)), float(lat) / 1e6, float(lon) / 1e6))
    return dict(out)
