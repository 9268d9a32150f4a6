"""The bridge's MQTT loop: subscribe to every device channel, decode, record.

A malformed message never stops the loop: it is logged with its reason and dropped here (the
dead-letter table arrives with the ingest work). The session is persistent (clean_session=False)
so messages published while the cloud restarts wait in the broker.
"""

from __future__ import annotations

import asyncio

import aiomqtt
import structlog
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.bridge.recorder import record
from protocol.codec import decode
from protocol.errors import ProtocolError

log = structlog.get_logger("cloud.bridge")

SUBSCRIPTION = "mob/+/+/#"


async def run_bridge(
    engine: Engine,
    host: str,
    port: int,
    *,
    client_id: str = "mobilytics-cloud",
    ready: asyncio.Event | None = None,
) -> None:
    """Consume device messages until cancelled, reconnecting with capped backoff."""
    delay = 0.5
    while True:
        try:
            async with aiomqtt.Client(host, port, identifier=client_id, clean_session=False) as client:
                await client.subscribe(SUBSCRIPTION, qos=1)
                log.info("bridge.connected", host=host, port=port)
                delay = 0.5
                if ready is not None:
                    ready.set()
                async for message in client.messages:
                    await asyncio.to_thread(_handle, engine, str(message.topic), bytes(message.payload))
        except aiomqtt.MqttError as e:
            log.warning("bridge.disconnected", error=str(e), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def _handle(engine: Engine, topic: str, payload: bytes) -> None:
    if topic.rsplit("/", 1)[-1] == "error" or "/config/desired" in topic:
        return  # cloud-to-device channels: our own messages echoed back
    try:
        msg = decode(payload, topic)
    except ProtocolError as e:
        log.warning("bridge.rejected", topic=topic, code=e.code, reason=e.reason)
        return
    with Session(engine) as session:
        record(session, msg)
        session.commit()
