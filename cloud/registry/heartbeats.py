"""Heartbeat history: a sample per heartbeat, written with the flush, read by the device page, pruned.

Heartbeats are QoS 0 and low-rate (one a device every `interval_s`), so one narrow row each is cheap;
the rows are inserted in one statement per flush, inside the flush's transaction. Retention is a time
window (default 7 days) enforced by the sweeper in bounded deletes, so a backlog never makes one long
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert
from sqlmodel import Session, col, select

from cloud.core.types import from_ms
from cloud.registry.models import HeartbeatSample
from protocol.codec import Message

HEALTH_COLUMNS = (
    "uptime_s",
    "rssi",
    "free_mem",
    "free_disk",
    "outbox",
    "dropped",
    "temp_dc",
    "load_x100",
)
KEEP = timedelta(days=7)
PRUNE_BATCH = 5000  # rows deleted per sweeper tick at most


def sample_row(msg: Message, *, received_at: datetime) -> dict[str, Any]:
    """The row for one (validated) heartbeat message."""
    device_ts = from_ms(msg.ts)
    return {
        "device_id": msg.device,
        "received_at": received_at,
        "device_ts": device_ts,
        "lag_s": (received_at - device_ts).total_seconds(),
    } | {k: msg.body.get(k) for k in HEALTH_COLUMNS}


def record(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Insert the flush's samples in one executemany; the caller's transaction commits them."""
    rows = list(rows)
    if rows:
        session.execute(insert(HeartbeatSample), rows)
    return len(rows)


def prune(session: Session, *, now: datetime, keep: timedelta = KEEP, limit: int = PRUNE_BATCH) -> int:
    """Delete up to `limit` samples older than `keep` (oldest first); how many went."""
    old = (
        select(HeartbeatSample.id)
        .where(col(HeartbeatSample.received_at) < now - keep)
        .order_by(col(HeartbeatSample.received_at))
        .limit(limit)
    )
    ids = list(session.exec(old).all())
    if not ids:
        return 0
    session.execute(delete(HeartbeatSample).where(col(HeartbeatSample.id).in_(ids)))
    return len(ids)


def history(session: Session, device_id: str, *, since: datetime) -> list[HeartbeatSample]:
    """The device's samples received since `since`, oldest first (index device_id, received_at)."""
    return list(
        session.exec(
            select(HeartbeatSample)
            .where(HeartbeatSample.device_id == device_id, col(HeartbeatSample.received_at) >= since)
            .order_by(col(HeartbeatSample.received_at), col(HeartbeatSample.id))
        ).all()
    )
