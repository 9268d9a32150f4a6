"""Partner export routes: the partners' HMAC-signed callbacks, on-demand exports, the record."""

from __future__ import annotations

import time
from datetime import date

from fastapi import APIRouter, Header, Request
from sqlmodel import col, select

from cloud.api.deps import ReadAccess, SessionDep, WriteAccess
from cloud.core.types import utcnow
from cloud.exports import callbacks
from cloud.exports.config import ExportSettings
from cloud.exports.exceptions import ExportNotFoundError
from cloud.exports.models import Partner, PartnerExport, PartnerExportPublic
from cloud.exports.partners import export_mogean, export_spotzi
from cloud.exports.s3 import ObjectStore
from cloud.exports.sources import AnalyticsSource

router = APIRouter(prefix="/exports", tags=["exports"])


def _settings(request: Request) -> ExportSettings:
    return getattr(request.app.state, "exports", None) or ExportSettings()


def _store(request: Request) -> ObjectStore:
    store = getattr(request.app.state, "export_store", None)
    if store is None:
        store = request.app.state.export_store = ObjectStore.from_settings(_settings(request))
    return store  # type: ignore[no-any-return]


@router.post("/callbacks/{partner}", response_model=PartnerExportPublic)
async def partner_callback(
    partner: Partner,
    request: Request,
    session: SessionDep,
    x_mobilytics_signature: str | None = Header(default=None),
) -> PartnerExport:
    """A partner confirms (or reports failing) ingestion; signed, see cloud/exports/callbacks.py."""
    settings = _settings(request)
    body = await request.body()
    doc = callbacks.verify(
        partner,
        body,
        x_mobilytics_signature,
        secret=settings.callback_secret(partner),
        now=time.time(),
        tolerance_s=settings.export_callback_tolerance_s,
    )
    row = callbacks.apply(session, partner, doc, now=utcnow())
    session.commit()
    return row


@router.get("", response_model=list[PartnerExportPublic])
def list_exports(
    session: SessionDep, _: ReadAccess, campaign_id: str | None = None, status: str | None = None
) -> list[PartnerExport]:
    stmt = select(PartnerExport).order_by(col(PartnerExport.id))
    if campaign_id:
        stmt = stmt.where(PartnerExport.campaign_id == campaign_id)
    if status:
        stmt = stmt.where(PartnerExport.status == status)
    return list(session.exec(stmt))


@router.get("/{export_id}", response_model=PartnerExportPublic)
def get_export(export_id: int, session: SessionDep, _: ReadAccess) -> PartnerExport:
    row = session.get(PartnerExport, export_id)
    if row is None:
        raise ExportNotFoundError(str(export_id))
    return row


@router.post("/{partner}/{campaign_id}", response_model=list[PartnerExportPublic])
def export_now(
    partner: Partner, campaign_id: str, day: date, request: Request, _: WriteAccess
) -> list[PartnerExport]:
    """On demand: export one UTC day of a campaign to a partner now (idempotent)."""
    engine, settings, store = request.app.state.engine, _settings(request), _store(request)
    if partner == Partner.MOGEAN:
        return export_mogean(
            engine,
            store,
            settings,
            AnalyticsSource(),
            campaign_id=campaign_id,
            day=day,
            now=utcnow(),
        )
    return [
        export_spotzi(
            engine,
            store,
            settings,
            AnalyticsSource(),
            campaign_id=campaign_id,
            day=day,
            now=utcnow(),
        )
    ]
