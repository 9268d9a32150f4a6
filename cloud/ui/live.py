"""Live updates for the ops pages: one Server-Sent Events stream per open page.

Each stream reads the database itself, so any replica can serve any browser and nothing is kept in
memory between requests:

* `status` events come from the presence history (`device_status_change`, read past a watermark:
  its primary key). The event id is that key, so a browser that reconnects sends `Last-Event-ID`
  and misses no transition.
* `counts` events carry the overview's figures when they change (checked every second).
* `device` events (only with `?device=ID`) carry that device's heartbeat and health facts.

A stream ends by itself after `MAX_STREAM_S` and the browser reconnects at once (`retry`): this
keeps a server's graceful shutdown short (uvicorn waits for open responses) at no cost to the
page, because the watermark travels in `Last-Event-ID`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from cloud.core.config import Settings
from cloud.core.types import utcnow
from cloud.registry.models import Device, StatusChange
from cloud.ui import fleet
from cloud.ui.session import OperatorDep

router = APIRouter(prefix="/ui", include_in_schema=False)

POLL_S = 0.5
MAX_STREAM_S = 20.0
RETRY_MS = 500


def _event(kind: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n".encode()


def _watermark(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.coalesce(func.max(StatusChange.id), 0))).one())


def _poll(engine: Engine, settings: Settings, after: int, device_id: str | None) -> dict[str, Any]:
    now = utcnow()
    policy = settings.presence_policy
    with Session(engine) as s:
        rows = s.exec(
            select(StatusChange, Device)
            .join(Device, col(Device.id) == col(StatusChange.device_id))
            .where(col(StatusChange.id) > after)
            .order_by(col(StatusChange.id))
            .limit(500)
        ).all()
        changes = [
            {
                "id": c.id,
                "device": d.id,
                "from": c.from_status,
                "to": c.to_status,
                "shown": fleet.shown_status(d, now, policy),
                "reason": c.reason,
                "at": c.at.isoformat(),
                "since": (d.status_since or c.at).isoformat(),
            }
            for c, d in rows
        ]
        counts = fleet.counts(s, now=now, policy=policy)
        device = None
        if device_id:
            d = s.get(Device, device_id)
            if d is not None:
                device = {
                    "id": d.id,
                    "status": d.status,
                    "shown": fleet.shown_status(d, now, policy),
                    "status_since": d.status_since.isoformat() if d.status_since else None,
                    "last_heartbeat_at": d.last_heartbeat_at.isoformat() if d.last_heartbeat_at else None,
                    "heartbeats": d.heartbeats,
                    "telemetry_batches": d.telemetry_batches,
                    "observations": d.observations,
                    "health": d.health,
                    "flapping": d.flapping,
                }
    return {"changes": changes, "counts": counts, "device": device}


@router.get("/events")
async def events(request: Request, _operator: OperatorDep, device: str | None = None) -> StreamingResponse:
    engine: Engine = request.app.state.engine
    settings: Settings = request.app.state.settings
    last_id = request.headers.get("last-event-id", "")
    start = int(last_id) if last_id.isdigit() else await asyncio.to_thread(_watermark, engine)

    async def stream() -> AsyncIterator[bytes]:
        after = start
        sent_counts: dict[str, int] | None = None
        sent_device: str | None = None
        yield f"retry: {RETRY_MS}\n\n".encode()
        deadline = time.monotonic() + MAX_STREAM_S
        while time.monotonic() < deadline and not await request.is_disconnected():
            snap = await asyncio.to_thread(_poll, engine, settings, after, device)
            for change in snap["changes"]:
                after = change["id"]
                yield _event("status", change, change["id"])
            if snap["counts"] != sent_counts:
                sent_counts = snap["counts"]
                yield _event("counts", sent_counts)
            if snap["device"] is not None:
                body = json.dumps(snap["device"], sort_keys=True, default=str)
                if body != sent_device:
                    sent_device = body
                    yield _event("device", snap["device"])
            await asyncio.sleep(POLL_S)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
