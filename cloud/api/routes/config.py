"""/devices/{id}/config: the config shadow (desired set here, reported by the device)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cloud.api.deps import ReadAccess, SessionDep, WriteAccess
from cloud.core.types import utcnow
from cloud.registry.service import get_device
from cloud.shadow import service
from cloud.shadow.models import DesiredConfigIn, ShadowPublic
from cloud.shadow.schemas import schema_for

router = APIRouter(prefix="/devices/{device_id}/config", tags=["config"])


@router.get("")
def read_shadow(device_id: str, session: SessionDep, _auth: ReadAccess) -> ShadowPublic:
    get_device(session, device_id=device_id)
    return service.public(service.shadow_of(session, device_id))


@router.put("/desired")
def set_desired(
    device_id: str, data: DesiredConfigIn, session: SessionDep, _auth: WriteAccess
) -> ShadowPublic:
    """Store a new desired version; the bridge publishes it retained on config/desired (outbox)."""
    device = get_device(session, device_id=device_id)
    shadow = service.set_desired(session, device=device, config=data.config, now=utcnow())
    session.commit()
    session.refresh(shadow)
    return service.public(shadow)


@router.get("/delta")
def read_delta(device_id: str, session: SessionDep, _auth: ReadAccess) -> dict[str, Any]:
    get_device(session, device_id=device_id)
    shadow = service.public(service.shadow_of(session, device_id))
    return {
        "desired_version": shadow.desired_version,
        "reported_version": shadow.reported_version,
        "delta": shadow.delta,
    }


@router.get("/schema")
def read_schema(device_id: str, session: SessionDep, _auth: ReadAccess) -> dict[str, Any]:
    return schema_for(get_device(session, device_id=device_id).hardware)
