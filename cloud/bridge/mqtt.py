"""The one seam between the bridge and aiomqtt: connect with manual acknowledgement, ack, publish.

aiomqtt 2.x acknowledges a QoS 1 message as soon as it arrives, which would let a crash between
arrival and COMMIT lose an acknowledged batch. paho-mqtt (underneath) can leave the PUBACK to the
application (`manual_ack`), and aiomqtt 2.5 does not expose it yet (empicano/aiomqtt#345, PR #346),
so this module reaches the paho client in exactly one place. A persistent session
(clean_session=False) makes the broker redeliver every unacknowledged message after a reconnect.

Incoming messages can be handed to a callback as paho decodes them (`deliver`), through aiomqtt's
`queue_type`: its message iterator costs a task, an `asyncio.wait` and a queue round trip per
message, a fifth of the bridge's event-loop time at ~2,000 telemetry messages/s (py-spy). The
iterator then only ever ends with the connection (`Link.lost`).
"""

from __future__ import annotations

import asyncio
import enum
import math
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiomqtt

from cloud.exceptions import BrokerUnavailableError

Deliver = Callable[[aiomqtt.Message], None]


class ConnectionState(enum.StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"


@dataclass(frozen=True, slots=True)
class Tls:
    """TLS to the broker: verify it against ``ca`` and present the cloud's certificate (cloud/identity)."""

    ca: Path | None = None  # None: the system's trust store
    cert: Path | None = None
    key: Path | None = None

    def params(self) -> aiomqtt.TLSParameters:
        return aiomqtt.TLSParameters(
            ca_certs=str(self.ca) if self.ca else None,
            certfile=str(self.cert) if self.cert else None,
            keyfile=str(self.key) if self.key else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )


class Link:
    """A connected client whose QoS 1 messages are acknowledged only by `ack`."""

    def __init__(self, client: aiomqtt.Client, generation: int) -> None:
        self.client = client
        # Message ids are per connection: an ack for a message of an earlier connection must not be
        # sent on this one (the broker redelivers those anyway).
        self.generation = generation

    async def lost(self) -> None:
        """Wait for the connection to drop (messages go to `deliver`, so the iterator yields none)."""
        try:
            async for _ in self.client.messages:
                pass
        except aiomqtt.MqttError as e:
            raise BrokerUnavailableError(
                host=self.client._hostname, port=self.client._port, reason=str(e)
            ) from e

    def ack(self, message: aiomqtt.Message) -> None:
        if message.qos > 0:
            self.client._client.ack(message.mid, message.qos)  # the paho seam, see above

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        try:
            # Not aiomqtt's own timeout: it is asyncio.wait_for, which on Python 3.11 swallows a
            # cancellation landing as the PUBACK arrives (gh-86296), so a stopped task would run on.
            async with asyncio.timeout(self.client.timeout):
                await self.client.publish(topic, payload, qos=qos, retain=retain, timeout=math.inf)
        except (aiomqtt.MqttError, TimeoutError) as e:
            raise BrokerUnavailableError(
                host=self.client._hostname, port=self.client._port, reason=str(e)
            ) from e


@asynccontextmanager
async def connect(
    host: str,
    port: int,
    *,
    client_id: str,
    generation: int = 0,
    clean_session: bool = False,
    manual_ack: bool = True,
    tls: Tls | None = None,
    deliver: Deliver | None = None,
) -> AsyncIterator[Link]:
    client = aiomqtt.Client(
        host,
        port,
        identifier=client_id,
        queue_type=_handed_to(deliver) if deliver is not None else asyncio.Queue,
        tls_params=tls.params() if tls is not None else None,
        clean_session=clean_session,
        keepalive=30,
        timeout=10,
    )
    if manual_ack:
        client._client.manual_ack_set(True)  # the paho seam, see above
    try:
        async with client:
            yield Link(client, generation)
    except aiomqtt.MqttError as e:
        raise BrokerUnavailableError(host=host, port=port, reason=str(e)) from e


def _handed_to(deliver: Deliver) -> type[asyncio.Queue[aiomqtt.Message]]:
    """A queue type for aiomqtt whose `put_nowait` (its only way in) calls `deliver` instead."""

    class Handed(asyncio.Queue[aiomqtt.Message]):
        def put_nowait(self, item: aiomqtt.Message) -> None:
            deliver(item)

    return Handed
