"""Presence against the database: load a device's facts, apply the rule, store the result.

The database is the only memory: any replica can apply evidence or sweep, because each does it in
a transaction that holds the device's row (FOR UPDATE on PostgreSQL; SQLite has one writer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlmodel import Session, col, or_, select

from cloud.core.types import utcnow
from cloud.presence.rules import Evidence, Policy, Presence, Transition, observe, sweep, timeout_s
from cloud.registry.models import Device, DeviceState, PresenceStatus, StatusChange

log = structlog.get_logger("cloud.presence")


def presence_of(device: Device) -> Presence:
    return Presence(
        status=device.status,
        since=device.status_since,
        reason=device.status_reason,
        boot=device.boot,
        boot_ts=device.boot_ts,
        conn_floor=device.conn_floor,
        last_seq=device.last_seq,
        connected=device.connected,
        last_heartbeat_at=device.last_heartbeat_at,
        interval_s=device.heartbeat_interval_s,
        sleep_until=device.sleep_until,
        sleep_schedule=tuple(device.sleep_schedule or ()),
        flap_score=device.flap_score,
        flap_score_at=device.flap_score_at,
        flapping=device.flapping,
        online_pending_since=device.online_pending_since,
    )


def _store(session: Session, device: Device, p: Presence, t: Transition | None, policy: Policy) -> None:
    device.status = p.status
    device.status_since = p.since
    device.status_reason = p.reason
    device.boot = p.boot
    device.boot_ts = p.boot_ts
    device.conn_floor = p.conn_floor
    device.last_seq = p.last_seq
    device.connected = p.connected
    device.last_heartbeat_at = p.last_heartbeat_at
    device.heartbeat_interval_s = p.interval_s
    device.sleep_until = p.sleep_until
    device.flap_score = p.flap_score
    device.flap_score_at = p.flap_score_at
    device.flapping = p.flapping
    device.online_pending_since = p.online_pending_since
    device.heartbeat_deadline = (
        p.last_heartbeat_at + timedelta(seconds=timeout_s(p, policy)) if p.last_heartbeat_at else None
    )
    session.add(device)
    if t is not None:
        session.add(
            StatusChange(
                device_id=device.id,
                at=t.at,
                from_status=t.from_status,
                to_status=t.to_status,
                reason=t.reason,
                boot=t.boot,
                seq=t.seq,
            )
        )
        log.info(
            "presence.transition",
            device_id=device.id,
            from_status=t.from_status,
            to_status=t.to_status,
            reason=t.reason,
            flapping=p.flapping,
        )


def get_or_register(session: Session, device_id: str, now: datetime, *, lock: bool = True) -> Device:
    """The device's row, locked for this transaction; a device never seen before is registered."""
    stmt = select(Device).where(Device.id == device_id)
    if lock:
        stmt = stmt.with_for_update()
    device = session.exec(stmt).first()
    if device is None:
        device = Device(id=device_id, state=DeviceState.ACTIVE, created_at=now)
        session.add(device)
        session.flush()
    return device


def apply_evidence(
    session: Session, device: Device, ev: Evidence, *, now: datetime, policy: Policy
) -> Transition | None:
    p, t = observe(presence_of(device), ev, now, policy)
    _store(session, device, p, t, policy)
    return t


@dataclass(frozen=True, slots=True)
class SweepResult:
    examined: int
    transitions: list[tuple[str, Transition]]


def sweep_once(session: Session, *, policy: Policy, now: datetime | None = None) -> SweepResult:
    """Evaluate the devices time may have changed; rows another replica holds are skipped (SKIP LOCKED).

    Candidates come from indexed columns, so a healthy fleet costs one empty index scan.
    """
    now = now or utcnow()
    stmt = (
        select(Device)
        .where(
            or_(
                (col(Device.status) == PresenceStatus.ONLINE) & (col(Device.heartbeat_deadline) < now),
                col(Device.status) == PresenceStatus.SLEEPING,
                col(Device.online_pending_since).is_not(None),
                col(Device.flapping).is_(True),
            )
        )
        .order_by(col(Device.id))
        .with_for_update(skip_locked=True)
    )
    devices = session.exec(stmt).all()
    transitions: list[tuple[str, Transition]] = []
    for device in devices:
        before = presence_of(device)
        p, t = sweep(before, now, policy)
        if p != before:
            _store(session, device, p, t, policy)
        if t is not None:
            transitions.append((device.id, t))
    return SweepResult(len(devices), transitions)
