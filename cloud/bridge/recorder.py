"""What the bridge does with one decoded message: update the device's registry row.

Pure of MQTT: it takes a decoded `Message` and a database session, so tests feed it directly.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from cloud.registry.models import Device
from protocol.codec import Message


def record(session: Session, msg: Message) -> Device:
    device = session.get(Device, msg.device) or Device(id=msg.device)
    device.last_seen = datetime.fromtimestamp(msg.ts / 1000, tz=UTC)
    device.boot = msg.boot
    match msg.type:
        case "hello":
            device.hardware = msg.body.get("hw")
            device.version = msg.body.get("version")
            device.status = "online"
        case "heartbeat":
            device.heartbeats += 1
            device.status = "online"
        case "telemetry":
            device.telemetry_batches += 1
            device.observations += len(msg.body["obs"])
        case "status":
            device.status = msg.body.get("state", device.status)
    session.add(device)
    return device
