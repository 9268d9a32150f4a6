"""/enrollments (ops mint one-time tokens) and /devices/register (a technician claims one)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from cloud.api.deps import SessionDep, WriteAccess
from cloud.core.types import utcnow
from cloud.identity import service
from cloud.identity.models import (
    CredentialsRotate,
    DeviceRegister,
    DeviceRegistered,
    EnrollmentCreate,
    EnrollmentMinted,
)

router = APIRouter(tags=["enrollment"])


def _identity(request: Request) -> service.Identity:
    identity = getattr(request.app.state, "identity", None)
    if identity is None:
        from cloud.identity.exceptions import IdentityError

        raise IdentityError("this control plane has no fleet CA configured (enrollment is off)")
    return identity  # type: ignore[no-any-return]


@router.post("/enrollments", status_code=201)
def mint_enrollment(data: EnrollmentCreate, session: SessionDep, auth: WriteAccess) -> EnrollmentMinted:
    return service.mint(session, data=data, actor=auth.name, now=utcnow())


@router.post("/devices/register", status_code=201)
def register_device(data: DeviceRegister, request: Request, session: SessionDep) -> DeviceRegistered:
    """No API token: the enrollment token in the body is the credential."""
    return service.claim(
        session,
        _identity(request),
        secret=data.token,
        device_id=data.device_id,
        hardware=data.hardware,
        csr_pem=data.csr,
        now=utcnow(),
    )


@router.post("/devices/{device_id}/credentials/rotate")
def rotate_credentials(
    device_id: str, data: CredentialsRotate, request: Request, session: SessionDep, auth: WriteAccess
) -> DeviceRegistered:
    return service.rotate(
        session, _identity(request), device_id=device_id, csr_pem=data.csr, actor=auth.name, now=utcnow()
    )
