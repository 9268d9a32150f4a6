"""Config shadow operations: set desired (validated, versioned), record reported, compute the delta.

Publishing desired is an outbox: `desired_version > published_version` means "not yet on the
broker"; the API publishes at once when it can, and any replica's sweeper retries otherwise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator
from sqlmodel import Session, col, select

from cloud.exceptions import ConfigInvalidError
from cloud.registry.models import Device
from cloud.shadow.models import ConfigShadow, ShadowPublic
from cloud.shadow.schemas import schema_for
from protocol import topics
from protocol.codec import encode, make
from protocol.errors import ProtocolError

CLOUD_BOOT = "00000000"


def validate_desired(device: Device, config: dict[str, Any]) -> None:
    validator = Draft202012Validator(schema_for(device.hardware))
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(document)"
        raise ConfigInvalidError(device_id=device.id, field=where, reason=e.message)


def shadow_of(session: Session, device_id: str, *, lock: bool = False) -> ConfigShadow:
    stmt = select(ConfigShadow).where(ConfigShadow.device_id == device_id)
    if lock:
        stmt = stmt.with_for_update()
    shadow = session.exec(stmt).first()
    if shadow is None:
        shadow = ConfigShadow(device_id=device_id)
        session.add(shadow)
    return shadow


def delta(desired: dict[str, Any], reported: dict[str, Any]) -> dict[str, Any]:
    """Settings whose desired value differs from the reported one (what the device still has to apply)."""
    return {k: v for k, v in desired.items() if reported.get(k, object()) != v}


def public(shadow: ConfigShadow) -> ShadowPublic:
    d = delta(shadow.desired, shadow.reported)
    return ShadowPublic(
        device_id=shadow.device_id,
        desired=shadow.desired,
        desired_version=shadow.desired_version,
        desired_at=shadow.desired_at,
        reported=shadow.reported,
        reported_version=shadow.reported_version,
        reported_at=shadow.reported_at,
        delta=d,
        in_sync=shadow.reported_version >= shadow.desired_version and not d,
    )


def desired_message(shadow: ConfigShadow, now: datetime) -> tuple[str, bytes]:
    """(topic, payload) of the retained config/desired message; ProtocolError if it breaks protocol limits."""
    body = {"version": shadow.desired_version, "config": shadow.desired}
    msg = make(
        "config_desired",
        shadow.device_id,
        CLOUD_BOOT,
        shadow.desired_version,
        int(now.timestamp() * 1000),
        body,
    )
    return topics.topic(shadow.device_id, topics.CONFIG_DESIRED), encode(msg)


def set_desired(session: Session, *, device: Device, config: dict[str, Any], now: datetime) -> ConfigShadow:
    validate_desired(device, config)
    shadow = shadow_of(session, device.id, lock=True)
    shadow.desired = config
    shadow.desired_version += 1
    shadow.desired_at = now
    try:
        desired_message(shadow, now)  # the protocol's own limits (key syntax, size)
    except ProtocolError as e:
        raise ConfigInvalidError(device_id=device.id, field=e.field or "config", reason=e.reason) from e
    session.add(shadow)
    return shadow


def record_reported(session: Session, *, device_id: str, body: dict[str, Any], now: datetime) -> ConfigShadow:
    shadow = shadow_of(session, device_id, lock=True)
    version = body["version"]
    if version >= shadow.reported_version:
        shadow.reported_version = version
        if body.get("config") is not None:
            shadow.reported = body["config"]
        shadow.reported_at = now
        session.add(shadow)
    return shadow


def unpublished(session: Session, *, limit: int = 100) -> list[ConfigShadow]:
    stmt = (
        select(ConfigShadow)
        .where(col(ConfigShadow.desired_version) > col(ConfigShadow.published_version))
        .order_by(col(ConfigShadow.device_id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.exec(stmt))
