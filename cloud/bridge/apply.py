"""Applying one sorted flush to the database in a single transaction.

Order inside the transaction: lock (or register) every device the flush names, in id order, so two
replicas never deadlock; then dead letters, registry/presence/shadow messages in arrival order (each
heartbeat also becomes a heartbeat sample, all inserted in one statement), and the telemetry batches
through the exactly-once store. The caller acknowledges the MQTT messages only after this returns,
i.e. after COMMIT.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from cloud.analytics.sql.update import apply_batches
from cloud.bridge.inbox import DeadLetterIn, Flush
from cloud.core.types import from_ms
from cloud.ingest.models import DeadLetter
from cloud.ingest.store import IngestResult, ingest
from cloud.observability import metrics
from cloud.presence.rules import Evidence, Policy, Transition
from cloud.presence.service import apply_evidence
from cloud.registry import heartbeats
from cloud.registry.models import Device, DeviceState
from cloud.rollouts.service import observe as observe_rollouts
from cloud.shadow.service import record_reported
from protocol.codec import Message

log = structlog.get_logger("cloud.bridge")

HEALTH_FIELDS = (
    "uptime_s",
    "rssi",
    "free_mem",
    "free_disk",
    "outbox",
    "dropped",
    "temp_dc",
    "load_x100",
    "gps_fix",
    "reset",
)
# status "offline" reasons a device sends itself before disconnecting; anything else is its Last Will.
CLEAN_REASONS = frozenset({"shutdown", "reboot", "ota", "clean", "disconnect"})  # SPEC §5.7
SLEEP_REASONS = frozenset({"sleep", "sleeping", "parked"})


@dataclass(slots=True)
class FlushResult:
    ingest: IngestResult = field(default_factory=IngestResult)
    transitions: list[tuple[str, Transition]] = field(default_factory=list)
    dead: list[DeadLetterIn] = field(default_factory=list)


def _evidence(msg: Message) -> Evidence | None:
    b = msg.body
    ts = from_ms(msg.ts)
    match msg.type:
        case "hello":
            return Evidence(
                kind="birth", boot=msg.boot, seq=msg.seq, device_ts=ts, interval_s=b.get("heartbeat_s")
            )
        case "heartbeat":
            return Evidence(
                kind="heartbeat", boot=msg.boot, seq=msg.seq, device_ts=ts, interval_s=b.get("interval_s")
            )
        case "status" if b["state"] == "online":
            return Evidence(kind="online", boot=msg.boot, seq=msg.seq, device_ts=ts)
        case "status":
            reason = b.get("reason") or ""
            if reason in SLEEP_REASONS:
                until = b.get("until")
                until_dt = from_ms(until) if isinstance(until, int) else None
                return Evidence(kind="sleep", boot=msg.boot, seq=msg.seq, device_ts=ts, sleep_until=until_dt)
            kind = "disconnect" if reason in CLEAN_REASONS else "lwt"
            return Evidence(kind=kind, boot=msg.boot, seq=msg.seq, device_ts=ts)
    return None


def _registry_facts(device: Device, msg: Message, now: datetime) -> None:
    b: dict[str, Any] = msg.body
    device.last_seen = now
    if msg.type == "hello":
        device.hardware = b["hw"]
        device.firmware_version = b["fw"]
        device.capabilities = list(b["caps"])
        versions = b.get("versions") or {}
        device.agent_version = versions.get("agent", device.agent_version)
        if device.state == DeviceState.PROVISIONED:
            device.state = DeviceState.ACTIVE
    elif msg.type == "heartbeat":
        previous = device.last_heartbeat_at
        if previous is not None:
            lag = (now - previous).total_seconds() - float(b["interval_s"])
            metrics.HEARTBEAT_LAG.observe(max(0.0, lag))
        device.heartbeats += 1
        device.health = {k: b[k] for k in HEALTH_FIELDS if k in b} | {"at": now.isoformat()}
        if "fw" in b:
            device.firmware_version = b["fw"]


def _lock_devices(session: Session, ids: set[str], now: datetime) -> dict[str, Device]:
    """Register unknown devices, then lock every row of the flush in id order."""
    if not ids:
        return {}
    table = Device.__table__  # type: ignore[attr-defined]
    ins = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        ins(table).on_conflict_do_nothing(),  # one cached statement as executemany, not a fresh VALUES
        [
            {
                "id": i,
                "state": DeviceState.ACTIVE,
                "status": "unknown",
                "labels": {},
                "sleep_schedule": [],
                "capabilities": [],
                "health": {},
                "connected": False,
                "flap_score": 0.0,
                "flapping": False,
                "heartbeats": 0,
                "telemetry_batches": 0,
                "observations": 0,
                "created_at": now,
            }
            for i in sorted(ids)
        ],
    )
    rows = session.exec(
        select(Device).where(col(Device.id).in_(sorted(ids))).order_by(col(Device.id)).with_for_update()
    ).all()
    return {d.id: d for d in rows}


def apply_flush(
    engine: Engine, flush: Flush, *, policy: Policy, now: datetime, rollups: bool = True
) -> FlushResult:
    result = FlushResult(dead=list(flush.dead))
    with Session(engine) as session:
        devices = _lock_devices(session, flush.device_ids, now)
        retired = {i for i, d in devices.items() if d.state == DeviceState.RETIRED}
        batches = flush.batches
        if retired:
            batches = [b for b in batches if b.device_id not in retired]
            for b in flush.batches:
                if b.device_id in retired:
                    result.dead.append(
                        DeadLetterIn(
                            f"mob/v1/{b.device_id}/telemetry",
                            b"",
                            "device_retired",
                            f"batch {b.batch} of boot {b.boot} from a retired device",
                            b.device_id,
                            now,
                        )
                    )
        for d in result.dead:
            session.add(
                DeadLetter(
                    topic=d.topic,
                    payload=d.payload,
                    reason=d.reason,
                    detail=d.detail[:1024],
                    device_id=d.device_id,
                    received_at=d.received_at,
                )
            )
        samples = []
        for msg in flush.controls:
            device = devices[msg.device]
            if device.state == DeviceState.RETIRED:
                continue
            _registry_facts(device, msg, now)
            if msg.type == "heartbeat":
                samples.append(heartbeats.sample_row(msg, received_at=now))
            ev = _evidence(msg)
            if ev is not None:
                t = apply_evidence(session, device, ev, now=now, policy=policy)
                if t is not None:
                    result.transitions.append((device.id, t))
            elif msg.type == "config_reported":
                record_reported(session, device_id=device.id, body=msg.body, now=now)
            session.add(device)
        session.flush()
        heartbeats.record(session, samples)  # history for the device page, one insert per flush
        live = [m for m in flush.controls if devices[m.device].state != DeviceState.RETIRED]
        observe_rollouts(session, live, batches, now=now)  # OTA jobs: ota_status, commit evidence
        session.flush()
        conn = session.connection()
        result.ingest = ingest(conn, batches, now=now)
        if rollups and result.ingest.fresh:
            # Audience rollups in the same transaction: committed, and acknowledged, with the rows.
            apply_batches(conn, result.ingest.fresh)
        session.commit()
    _count(result)
    return result


def _count(result: FlushResult) -> None:
    r = result.ingest
    metrics.INGEST_OBSERVATIONS.inc(r.observations)
    metrics.INGEST_BATCHES.inc(r.batches)
    metrics.INGEST_DUPLICATES.inc(r.duplicates)
    metrics.GAPS_OPENED.inc(r.gaps_opened)
    metrics.GAPS_CLOSED.inc(r.gaps_closed)
    for d in result.dead:
        metrics.DEAD_LETTERS.labels(d.reason).inc()
        log.warning(
            "bridge.dead_letter", device_id=d.device_id, topic=d.topic, reason=d.reason, detail=d.detail
        )
    for _, t in result.transitions:
        metrics.TRANSITIONS.labels(t.to_status, t.reason).inc()
    if r.duplicates:
        log.info("ingest.duplicates", count=r.duplicates, keys=[list(k) for k in r.duplicate_keys[:10]])
