"""Telemetry read side: gaps, completeness, dead letters."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import col, select

from cloud.api.deps import ReadAccess, SessionDep
from cloud.core.types import utcnow
from cloud.ingest import reports
from cloud.ingest.models import Completeness, DeadLetter, DeadLetterPublic, TelemetryGapPublic
from cloud.registry.service import get_device

router = APIRouter(tags=["telemetry"])


@router.get("/devices/{device_id}/telemetry/gaps")
def list_gaps(
    device_id: str,
    session: SessionDep,
    _auth: ReadAccess,
    open: bool = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[TelemetryGapPublic]:
    get_device(session, device_id=device_id)
    return [
        TelemetryGapPublic.model_validate(g, from_attributes=True)
        for g in reports.gaps(session, device_id, open_only=open, limit=limit)
    ]


@router.get("/devices/{device_id}/telemetry/completeness")
def completeness(
    device_id: str,
    session: SessionDep,
    _auth: ReadAccess,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Completeness:
    get_device(session, device_id=device_id)
    until = until or utcnow()
    since = since or until - timedelta(hours=24)
    return reports.completeness(session, device_id, since=since, until=until)


@router.get("/dead-letters")
def list_dead_letters(
    session: SessionDep,
    _auth: ReadAccess,
    reason: str | None = None,
    device_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadLetterPublic]:
    stmt = select(DeadLetter)
    if reason:
        stmt = stmt.where(DeadLetter.reason == reason)
    if device_id:
        stmt = stmt.where(DeadLetter.device_id == device_id)
    rows = session.exec(stmt.order_by(col(DeadLetter.id).desc()).limit(limit)).all()
    return [
        DeadLetterPublic(
            id=r.id or 0,
            topic=r.topic,
            reason=r.reason,
            detail=r.detail,
            device_id=r.device_id,
            received_at=r.received_at,
            size=len(r.payload),
            payload_preview=r.payload[:200].decode("utf-8", "replace"),
        )
        for r in rows
    ]
