"""Enrollment and credentials against the database: mint, claim, rotate, revoke. Keyword-only.

``Identity`` holds what the service needs besides a session: the fleet CA, the broker settings handed
to devices, and optionally the broker's files (cloud/broker/files.py) with a reload hook, refreshed
after every change that affects who may connect. Refusals are audited and committed before the error
propagates, so a failed claim leaves its trace even though the request fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from cloud.broker.files import BrokerFiles
from cloud.exceptions import InvalidStateChangeError
from cloud.identity import enrollment
from cloud.identity.ca import FleetCA, Revoked, cert_pem
from cloud.identity.credentials import hash_password, load_csr, new_password
from cloud.identity.exceptions import CertificateError, EnrollmentError
from cloud.identity.models import (
    DeviceCredential,
    DeviceRegistered,
    EnrollmentCreate,
    EnrollmentEvent,
    EnrollmentMinted,
    EnrollmentToken,
)
from cloud.registry.models import Device, DeviceState

REVOKING_STATES = frozenset({DeviceState.QUARANTINED, DeviceState.RETIRED})


@dataclass
class Identity:
    ca: FleetCA
    broker: dict[str, object]  # what devices are told: {"host", "port", "tls"}
    files: BrokerFiles | None = None
    reload: Callable[[], None] | None = None  # e.g. SIGHUP Mosquitto
    hosts: list[str] = field(default_factory=lambda: ["127.0.0.1", "localhost"])


def _audit(session: Session, *, now: datetime, event: str, **kw: object) -> None:
    session.add(EnrollmentEvent(at=now, event=event, **kw))  # type: ignore[arg-type]


def mint(session: Session, *, data: EnrollmentCreate, actor: str, now: datetime) -> EnrollmentMinted:
    minted = enrollment.mint(now=now, ttl=timedelta(seconds=data.ttl_s))
    row = EnrollmentToken(
        token_hash=minted.token_hash,
        prefix=minted.prefix,
        tenant=data.tenant,
        hardware=data.hardware,
        device_id=data.device_id,
        created_by=actor,
        created_at=now,
        expires_at=minted.expires_at,
    )
    session.add(row)
    _audit(
        session,
        now=now,
        event="minted",
        token_prefix=minted.prefix,
        tenant=data.tenant,
        actor=actor,
        device_id=data.device_id,
    )
    session.commit()
    return EnrollmentMinted(
        token=minted.secret,
        prefix=minted.prefix,
        tenant=data.tenant,
        hardware=data.hardware,
        device_id=data.device_id,
        expires_at=minted.expires_at,
    )


def _issue(
    session: Session, identity: Identity, *, device_id: str, csr_pem: str, now: datetime
) -> tuple[str, str]:
    try:
        csr = load_csr(csr_pem)
    except ValueError as e:
        raise CertificateError(f"CSR is not PEM: {e}", device_id=device_id) from e
    cert = identity.ca.issue_device(csr, device_id=device_id, now=now)
    password = new_password()
    session.add(
        DeviceCredential(
            device_id=device_id,
            serial=format(cert.serial_number, "x"),
            not_after=cert.not_valid_after_utc,
            password_hash=hash_password(password),
            created_at=now,
        )
    )
    return cert_pem(cert).decode(), password


def claim(
    session: Session,
    identity: Identity,
    *,
    secret: str,
    device_id: str,
    hardware: str,
    csr_pem: str,
    now: datetime,
) -> DeviceRegistered:
    """Enroll ``device_id`` with the one-time token: EnrollmentError (audited) if the token is refused."""
    row = session.exec(
        select(EnrollmentToken).where(EnrollmentToken.token_hash == enrollment.token_hash(secret))
    ).first()
    try:
        enrollment.check_claim(row, secret=secret, now=now, device_id=device_id, hardware=hardware)
    except EnrollmentError as e:
        _audit(
            session,
            now=now,
            event="refused",
            token_prefix=e.token_prefix,
            device_id=device_id,
            tenant=row.tenant if row else None,
            actor="device",
            reason=f"{e.reason}: {e.detail}"[:200],
        )
        session.commit()
        raise
    assert row is not None
    device = session.get(Device, device_id)
    if device is None:
        device = Device(
            id=device_id, hardware=hardware, tenant=row.tenant, state=DeviceState.ACTIVE, created_at=now
        )
        session.add(device)
        session.flush()
    else:
        if device.state == DeviceState.RETIRED:
            raise InvalidStateChangeError(device_id=device_id, from_state=device.state, to_state="enrolled")
        live = session.exec(
            select(DeviceCredential).where(
                DeviceCredential.device_id == device_id, col(DeviceCredential.revoked_at).is_(None)
            )
        ).first()
        if live is not None or row.device_id != device_id:
            raise InvalidStateChangeError(
                device_id=device_id,
                from_state=f"{device.state} (enrolled)",
                to_state="enrolled again: rotate its credentials, or mint a token for this device id",
            )
        device.state = DeviceState.ACTIVE
        device.tenant = row.tenant
        session.add(device)
    certificate, password = _issue(session, identity, device_id=device_id, csr_pem=csr_pem, now=now)
    row.used_at, row.used_by = now, device_id
    session.add(row)
    _audit(
        session,
        now=now,
        event="claimed",
        token_prefix=row.prefix,
        tenant=row.tenant,
        device_id=device_id,
        actor="device",
    )
    session.commit()
    refresh_broker(session, identity, now=now)
    return DeviceRegistered(
        device_id=device_id,
        tenant=row.tenant,
        certificate=certificate,
        ca=identity.ca.cert_pem.decode(),
        broker=identity.broker,
        username=device_id,
        password=password,
    )


def rotate(
    session: Session, identity: Identity, *, device_id: str, csr_pem: str, actor: str, now: datetime
) -> DeviceRegistered:
    """A new certificate and password for an enrolled device; the previous ones are revoked."""
    device = session.get(Device, device_id)
    if device is None or device.state in REVOKING_STATES:
        state = device.state if device else "unknown"
        raise InvalidStateChangeError(device_id=device_id, from_state=state, to_state="rotated")
    _revoke_credentials(session, device_id=device_id, reason="superseded", now=now)
    certificate, password = _issue(session, identity, device_id=device_id, csr_pem=csr_pem, now=now)
    _audit(session, now=now, event="rotated", device_id=device_id, actor=actor, tenant=device.tenant)
    session.commit()
    refresh_broker(session, identity, now=now)
    return DeviceRegistered(
        device_id=device_id,
        tenant=device.tenant,
        certificate=certificate,
        ca=identity.ca.cert_pem.decode(),
        broker=identity.broker,
        username=device_id,
        password=password,
    )


def _revoke_credentials(session: Session, *, device_id: str, reason: str, now: datetime) -> int:
    rows = session.exec(
        select(DeviceCredential).where(
            DeviceCredential.device_id == device_id, col(DeviceCredential.revoked_at).is_(None)
        )
    ).all()
    for r in rows:
        r.revoked_at, r.revoke_reason = now, reason
        session.add(r)
    return len(rows)


def revoke_device(
    session: Session, identity: Identity | None, *, device_id: str, reason: str, actor: str, now: datetime
) -> int:
    """Revoke every live credential of a device (quarantine, retirement); refreshes the broker's files."""
    n = _revoke_credentials(session, device_id=device_id, reason=reason, now=now)
    _audit(session, now=now, event="revoked", device_id=device_id, actor=actor, reason=reason)
    session.commit()
    if identity is not None:
        refresh_broker(session, identity, now=now)
    return n


def revoked(session: Session) -> list[Revoked]:
    rows = session.exec(select(DeviceCredential).where(col(DeviceCredential.revoked_at).is_not(None))).all()
    return [Revoked(int(r.serial, 16), r.revoked_at) for r in rows if r.revoked_at is not None]


def passwords(session: Session) -> dict[str, str]:
    """Each device's live password hash (one per device: the newest live credential)."""
    rows = session.exec(
        select(DeviceCredential)
        .where(col(DeviceCredential.revoked_at).is_(None))
        .order_by(col(DeviceCredential.created_at))
    ).all()
    return {r.device_id: r.password_hash for r in rows}


def refresh_broker(session: Session, identity: Identity, *, now: datetime) -> None:
    if identity.files is None:
        return
    identity.files.refresh(identity.ca, revoked=revoked(session), passwords=passwords(session), now=now)
    if identity.reload is not None:
        identity.reload()
