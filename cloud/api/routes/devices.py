"""/devices: the registry (list, read, register, change state) and presence history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from cloud.api.deps import ReadAccess, SessionDep, SettingsDep, WriteAccess
from cloud.core.types import utcnow
from cloud.identity import service as identity_service
from cloud.registry import service
from cloud.registry.models import (
    LABEL_FILTER,
    DeviceCreate,
    DevicePublic,
    DevicesPage,
    DeviceState,
    DeviceUpdate,
    PresenceStatus,
    StatusChangePublic,
)

router = APIRouter(prefix="/devices", tags=["devices"])


@router.get("")
def list_devices(
    session: SessionDep,
    settings: SettingsDep,
    _auth: ReadAccess,
    status: PresenceStatus | None = None,
    state: DeviceState | None = None,
    hardware: str | None = None,
    tenant: str | None = None,
    label: Annotated[str | None, Query(description="key or key=value", pattern=LABEL_FILTER)] = None,
    q: Annotated[str | None, Query(description="search in id, serial, firmware version")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DevicesPage:
    rows, total = service.list_devices(
        session,
        status=status,
        state=state,
        hardware=hardware,
        tenant=tenant,
        label=label,
        q=q,
        offset=offset,
        limit=limit,
    )
    now, policy = utcnow(), settings.presence_policy
    return DevicesPage(
        items=[service.public(d, now=now, policy=policy) for d in rows],
        total=total,
        offset=offset,
        limit=limit,
    )


@router.post("", status_code=201)
def register_device(
    session: SessionDep, settings: SettingsDep, _auth: WriteAccess, data: DeviceCreate
) -> DevicePublic:
    device = service.register(session, data=data, now=utcnow())
    session.commit()
    session.refresh(device)
    return service.public(device, now=utcnow(), policy=settings.presence_policy)


@router.get("/{device_id}")
def read_device(
    device_id: str, session: SessionDep, settings: SettingsDep, _auth: ReadAccess
) -> DevicePublic:
    device = service.get_device(session, device_id=device_id)
    return service.public(device, now=utcnow(), policy=settings.presence_policy)


@router.patch("/{device_id}")
def update_device(
    device_id: str,
    patch: DeviceUpdate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _auth: WriteAccess,
) -> DevicePublic:
    device = service.get_device(session, device_id=device_id)
    service.update_device(session, device=device, patch=patch)
    session.commit()
    if patch.state in identity_service.REVOKING_STATES:
        # A quarantined or retired device can no longer connect: its certificates go on the CRL and its
        # password leaves the broker's password file (cloud/identity/service.py).
        identity_service.revoke_device(
            session,
            request.app.state.identity,
            device_id=device_id,
            reason=str(patch.state),
            actor=_auth.name,
            now=utcnow(),
        )
    session.refresh(device)
    return service.public(device, now=utcnow(), policy=settings.presence_policy)


@router.get("/{device_id}/status-history")
def status_history(
    device_id: str,
    session: SessionDep,
    _auth: ReadAccess,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[StatusChangePublic]:
    service.get_device(session, device_id=device_id)
    return [
        StatusChangePublic.model_validate(c, from_attributes=True)
        for c in service.history(session, device_id=device_id, limit=limit)
    ]
