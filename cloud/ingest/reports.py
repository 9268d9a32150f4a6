"""Read side of ingest: gaps and the completeness figure analytics use to flag under-measured data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from cloud.core.types import to_ms
from cloud.ingest.models import Completeness, TelemetryBatch, TelemetryGap


def gaps(
    session: Session, device_id: str, *, open_only: bool = False, limit: int = 500
) -> list[TelemetryGap]:
    stmt = select(TelemetryGap).where(TelemetryGap.device_id == device_id)
    if open_only:
        stmt = stmt.where(col(TelemetryGap.closed_at).is_(None))
    return list(session.exec(stmt.order_by(col(TelemetryGap.opened_at), col(TelemetryGap.id)).limit(limit)))


def _missing_in_window(g: TelemetryGap, lo: int, hi: int) -> float:
    """Missing batches of an open gap that fall in [lo, hi), spread evenly over its time span."""
    n = g.last_batch - g.first_batch + 1
    if g.t_to_ms <= g.t_from_ms:
        return float(n) if lo <= g.t_from_ms < hi else 0.0
    overlap = max(0, min(hi, g.t_to_ms) - max(lo, g.t_from_ms))
    return n * overlap / (g.t_to_ms - g.t_from_ms)


def completeness(session: Session, device_id: str, *, since: datetime, until: datetime) -> Completeness:
    """received / expected batches whose time (t0) lies in [since, until).

    expected = received + still-missing batches of open gaps, placed in time between the t0 of their
    received neighbours. None when nothing was expected.
    """
    lo, hi = to_ms(since), to_ms(until)
    received = session.exec(
        select(func.count())
        .select_from(TelemetryBatch)
        .where(
            TelemetryBatch.device_id == device_id,
            col(TelemetryBatch.t0_ms) >= lo,
            col(TelemetryBatch.t0_ms) < hi,
        )
    ).one()
    open_gaps = session.exec(
        select(TelemetryGap).where(
            TelemetryGap.device_id == device_id,
            col(TelemetryGap.closed_at).is_(None),
            col(TelemetryGap.t_to_ms) >= lo,
            col(TelemetryGap.t_from_ms) < hi,
        )
    ).all()
    missing = round(sum(_missing_in_window(g, lo, hi) for g in open_gaps))
    expected = int(received) + missing
    return Completeness(
        device_id=device_id,
        since=since,
        until=until,
        received=int(received),
        missing=missing,
        expected=expected,
        completeness=(int(received) / expected) if expected else None,
    )
