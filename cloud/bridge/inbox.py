"""Sorting one flush of raw MQTT messages: telemetry batches, presence/registry messages, dead letters.

Pure: bytes in, decisions out. A well-formed telemetry batch is decoded on the fast path
(cloud/bridge/telemetry.py); every other payload goes through the protocol codec; whatever it
rejects becomes a dead letter (topic, raw bytes, reason) and, when the topic names a device, an
error reply for that device's error channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cloud.bridge.telemetry import decode_batch
from cloud.ingest.rows import ObsRow
from cloud.ingest.store import Batch
from protocol import topics
from protocol.codec import Message, decode, encode, make
from protocol.error_reply import error_body
from protocol.errors import ProtocolError

# Types the bridge applies to the registry/presence/shadow (telemetry goes to the ingest store).
CONTROL_TYPES = frozenset({"hello", "heartbeat", "status", "config_reported", "ota_status", "cmd_reply"})
CLOUD_BOOT = "00000000"  # the cloud's own boot id on error replies (it has no boot)


@dataclass(frozen=True, slots=True)
class DeadLetterIn:
    topic: str
    payload: bytes
    reason: str
    detail: str
    device_id: str | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Reply:
    """A message the cloud publishes after the flush commits (an error reply)."""

    topic: str
    payload: bytes


@dataclass(slots=True)
class Flush:
    batches: list[Batch] = field(default_factory=list)
    controls: list[Message] = field(default_factory=list)
    dead: list[DeadLetterIn] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)

    @property
    def device_ids(self) -> set[str]:
        ids = {b.device_id for b in self.batches}
        ids.update(m.device for m in self.controls)
        return ids


def _device_of(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) >= 3 and topics.is_device_id(parts[2]):
        return parts[2]
    return None


def error_reply(device_id: str, err: ProtocolError, topic: str, seq: int | None, ts_ms: int) -> Reply:
    msg = make("error", device_id, CLOUD_BOOT, 0, ts_ms, error_body(err, topic, seq))
    return Reply(topics.topic(device_id, topics.ERROR), encode(msg))


def sort(raw: list[tuple[str, bytes]], *, now: datetime) -> Flush:
    """Decode every (topic, payload) of one flush, in arrival order."""
    flush = Flush()
    now_ms = int(now.timestamp() * 1000)
    for topic, payload in raw:
        batch = decode_batch(topic, payload)
        if batch is not None:
            flush.batches.append(batch)
            continue
        try:
            msg = decode(payload, topic)
        except ProtocolError as e:
            device = _device_of(topic)
            flush.dead.append(DeadLetterIn(topic, payload, e.code, e.reason, device, now))
            if device is not None:
                flush.replies.append(error_reply(device, e, topic, None, now_ms))
            continue
        if msg.type == "telemetry":
            b = msg.body
            rows = [ObsRow(*r[:7]) for r in b["obs"]]  # a later minor's extra columns are not stored
            flush.batches.append(Batch(msg.device, msg.boot, b["batch"], msg.seq, b["t0"], rows))
        elif msg.type in CONTROL_TYPES:
            flush.controls.append(msg)
        else:  # a downlink type on an uplink channel cannot pass decode(topic=...); defensive
            flush.dead.append(DeadLetterIn(topic, payload, "unexpected_type", msg.type, msg.device, now))
    return flush
