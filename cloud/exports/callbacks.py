"""Partner callbacks: a partner POSTs to `/exports/callbacks/{partner}` once it has ingested (or
failed to ingest) an export.

Authentication, written down for partners: header `X-Mobilytics-Signature: t=<unix seconds>,
v1=<hex HMAC-SHA256(partner secret, "<t>.<raw body>")>` (Stripe's scheme, so partners can reuse
code). `t` must be within the tolerance (300 s) of our clock, either way. Body:
`{"manifest_key": "...", "status": "ingested" | "rejected", "detail": "..."}`.

A replayed callback is harmless: it sets the same status again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from cloud.exports.exceptions import CallbackRejectedError, ExportNotFoundError
from cloud.exports.models import ExportStatus, PartnerExport

HEADER = "X-Mobilytics-Signature"
_ANSWERS = {"ingested": ExportStatus.CONFIRMED, "rejected": ExportStatus.REJECTED}


def sign(body: bytes, secret: str, t: int) -> str:
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(
    partner: str, body: bytes, header: str | None, *, secret: str, now: float, tolerance_s: int
) -> dict[str, Any]:
    if not secret:
        raise CallbackRejectedError(partner=partner, reason="no callback secret configured for this partner")
    if not header:
        raise CallbackRejectedError(partner=partner, reason=f"missing {HEADER} header")
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise CallbackRejectedError(partner=partner, reason=f"malformed {HEADER} header") from None
    expected = sign(body, secret, t).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise CallbackRejectedError(partner=partner, reason="signature does not match")
    if abs(now - t) > tolerance_s:
        raise CallbackRejectedError(
            partner=partner, reason=f"timestamp {t} outside the {tolerance_s} s tolerance"
        )
    try:
        doc = json.loads(body)
        answer = _ANSWERS[doc["status"]]
        key = str(doc["manifest_key"])
    except (ValueError, KeyError, TypeError):
        raise CallbackRejectedError(
            partner=partner, reason="body must be {manifest_key, status: ingested|rejected}", status=422
        ) from None
    return {"manifest_key": key, "status": answer, "detail": str(doc.get("detail") or "")[:1024]}


def apply(session: Session, partner: str, doc: dict[str, Any], *, now: datetime) -> PartnerExport:
    row = session.exec(
        select(PartnerExport).where(
            PartnerExport.partner == partner, PartnerExport.manifest_key == doc["manifest_key"]
        )
    ).first()
    if row is None:
        raise ExportNotFoundError(doc["manifest_key"])
    if row.status not in {ExportStatus.COMPLETE, ExportStatus.CONFIRMED, ExportStatus.REJECTED}:
        raise CallbackRejectedError(
            partner=partner, reason=f"export is {row.status}, not complete", status=409
        )
    row.status = doc["status"]
    row.partner_detail = doc["detail"] or None
    row.confirmed_at = now
    row.updated_at = now
    session.add(row)
    session.flush()
    return row
