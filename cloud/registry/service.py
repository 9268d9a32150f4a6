"""Registry operations: list with filters and search, read, register, change state. Keyword-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from cloud.exceptions import InvalidStateChangeError, NotFoundError
from cloud.presence.rules import Policy, heartbeat_overdue
from cloud.presence.service import presence_of
from cloud.registry.models import (
    Device,
    DeviceCreate,
    DevicePublic,
    DeviceState,
    DeviceUpdate,
    StatusChange,
)

# Lifecycle: retired is final; everything else may move between the other states.
ALLOWED: dict[str, set[str]] = {
    DeviceState.PROVISIONED: {DeviceState.ACTIVE, DeviceState.QUARANTINED, DeviceState.RETIRED},
    DeviceState.ACTIVE: {DeviceState.QUARANTINED, DeviceState.RETIRED},
    DeviceState.QUARANTINED: {DeviceState.ACTIVE, DeviceState.RETIRED},
    DeviceState.RETIRED: set(),
}


def public(device: Device, *, now: datetime, policy: Policy) -> DevicePublic:
    out = DevicePublic.model_validate(device, from_attributes=True)
    out.heartbeat_overdue = heartbeat_overdue(presence_of(device), now, policy)
    return out


def list_devices(
    session: Session,
    *,
    status: str | None = None,
    state: str | None = None,
    hardware: str | None = None,
    tenant: str | None = None,
    label: str | None = None,
    q: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Device], int]:
    stmt = select(Device)
    if status:
        stmt = stmt.where(Device.status == status)
    if state:
        stmt = stmt.where(Device.state == state)
    if hardware:
        stmt = stmt.where(Device.hardware == hardware)
    if tenant:
        stmt = stmt.where(Device.tenant == tenant)
    rows_filter = stmt
    if q:
        like = f"%{q.lower()}%"
        rows_filter = rows_filter.where(
            or_(
                func.lower(col(Device.id)).like(like),
                func.lower(func.coalesce(col(Device.serial), "")).like(like),
                func.lower(func.coalesce(col(Device.firmware_version), "")).like(like),
            )
        )
    if label:  # key or key=value; JSON on SQLite and JSONB on PostgreSQL, both indexed by key in SQL
        key, _, value = label.partition("=")
        labelled = col(Device.labels)[key].as_string()
        rows_filter = rows_filter.where(labelled == value if value else labelled.is_not(None))
    total = session.exec(select(func.count()).select_from(rows_filter.subquery())).one()
    page = session.exec(rows_filter.order_by(col(Device.id)).offset(offset).limit(limit)).all()
    return list(page), int(total)


def get_device(session: Session, *, device_id: str) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFoundError("device", device_id)
    return device


def register(session: Session, *, data: DeviceCreate, now: datetime) -> Device:
    existing = session.get(Device, data.id)
    if existing is not None:
        raise InvalidStateChangeError(
            device_id=data.id, from_state=existing.state, to_state="registered again"
        )
    device = Device.model_validate(data, update={"created_at": now, "state": data.state})
    session.add(device)
    return device


def update_device(session: Session, *, device: Device, patch: DeviceUpdate) -> Device:
    changes = patch.model_dump(exclude_unset=True)
    new_state = changes.pop("state", None)
    if new_state is not None and new_state != device.state:
        if new_state not in ALLOWED[device.state]:
            raise InvalidStateChangeError(device_id=device.id, from_state=device.state, to_state=new_state)
        device.state = new_state
    if "sleep_schedule" in changes:
        from cloud.presence.rules import parse_window

        for w in changes["sleep_schedule"] or []:
            try:
                parse_window(w)
            except ValueError as e:
                from cloud.exceptions import ConfigInvalidError

                raise ConfigInvalidError(
                    device_id=device.id, field="sleep_schedule", reason=f"{w!r}: {e}"
                ) from e
    for k, v in changes.items():
        setattr(device, k, v)
    session.add(device)
    return device


def history(session: Session, *, device_id: str, limit: int = 100) -> list[StatusChange]:
    stmt = (
        select(StatusChange)
        .where(StatusChange.device_id == device_id)
        .order_by(col(StatusChange.at).desc(), col(StatusChange.id).desc())
        .limit(limit)
    )
    return list(session.exec(stmt))
