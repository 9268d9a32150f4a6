"""The MQTT link to the cloud: connect, stay connected, and say so truthfully.

One ``Uplink`` owns the connection loop; each successful connection hands a ``Link`` to the agent's
session function, which runs until it returns (a clean close) or the link fails. The link's state is
an explicit ``LinkState``. Reconnects wait a jittered, capped exponential backoff ("full jitter": a
uniform draw below ``min(cap, initial * 2**attempt)``) so a fleet that lost the broker together does
not return in one thundering herd.

Presence (SPEC §5.7): every connection registers a Last Will, a retained ``status`` offline message
(reason ``connection_lost``, seq and ts taken at connect) that the broker publishes if the link dies
without a DISCONNECT; the session publishes a retained online status once connected and, on a clean
close, a retained offline one (reason ``shutdown``) before disconnecting.

aiomqtt is used here and only here: its errors become UplinkError at this seam.
"""

from __future__ import annotations

import asyncio
import math
import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import StrEnum

import aiomqtt
import structlog

from edge_agent.config import MqttConfig
from edge_agent.exceptions import UplinkError
from protocol import subscriptions, topics

log = structlog.get_logger(__name__)


class LinkState(StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKING_OFF = "backing_off"
    CLOSED = "closed"


class Backoff:
    """Full-jitter capped exponential backoff; ``reset`` after a connection that worked."""

    def __init__(self, initial_s: float, cap_s: float, rng: random.Random | None = None) -> None:
        self.initial_s = initial_s
        self.cap_s = cap_s
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.initial_s * 2**self.attempt)
        self.attempt += 1
        return self._rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class Link:
    """One live connection: publish on this device's channels, read its downlink."""

    def __init__(self, client: aiomqtt.Client, device_id: str, config: MqttConfig) -> None:
        self._client = client
        self._device_id = device_id
        self._config = config

    def _error(self, what: str, e: Exception) -> UplinkError:
        return UplinkError(self._config.host, self._config.port, f"{what}: {e}")

    async def publish(self, channel: str, payload: bytes, retain: bool = False) -> None:
        """Publish with the channel's QoS; for QoS 1 this returns once the broker's PUBACK is in."""
        try:
            # Not aiomqtt's own timeout: it is asyncio.wait_for, which on Python 3.11 swallows a
            # cancellation landing as the PUBACK arrives (gh-86296), so a stopped task would run on.
            async with asyncio.timeout(self._config.publish_timeout_s):
                await self._client.publish(
                    topics.topic(self._device_id, channel),
                    payload,
                    qos=subscriptions.QOS[channel],
                    retain=retain,
                    timeout=math.inf,
                )
        except (aiomqtt.MqttError, TimeoutError) as e:
            raise self._error(f"publish on {channel}", e) from e

    async def subscribe_downlink(self) -> None:
        try:
            for topic in subscriptions.subscription(subscriptions.DEVICE, self._device_id):
                await self._client.subscribe(topic, qos=1)
        except aiomqtt.MqttError as e:
            raise self._error("subscribe", e) from e

    async def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        """(topic, payload) of each downlink message until the link drops (UplinkError)."""
        try:
            async for message in self._client.messages:
                payload = message.payload
                yield message.topic.value, payload if isinstance(payload, bytes) else str(payload).encode()
        except aiomqtt.MqttError as e:
            raise self._error("receive", e) from e
        raise UplinkError(self._config.host, self._config.port, "the broker closed the connection")


class Uplink:
    """Keeps a connection up and runs ``session(link)`` on each one."""

    def __init__(self, config: MqttConfig, device_id: str, will: Callable[[], bytes]) -> None:
        self.config = config
        self.device_id = device_id
        self.will = will
        self.state = LinkState.IDLE
        self.connections = 0
        self.backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)

    def _client(self) -> aiomqtt.Client:
        c = self.config
        tls = (
            aiomqtt.TLSParameters(
                ca_certs=c.tls_ca, certfile=c.tls_cert, keyfile=c.tls_key, cert_reqs=ssl.CERT_REQUIRED
            )
            if c.tls_ca
            else None
        )
        return aiomqtt.Client(
            c.host,
            c.port,
            identifier=self.device_id,
            username=c.username,
            password=c.password,
            keepalive=c.keepalive_s,
            will=aiomqtt.Will(topics.topic(self.device_id, topics.STATUS), self.will(), qos=1, retain=True),
            tls_params=tls,
            clean_session=False,  # SPEC §1: queued downlink (config, commands) survives a reconnect
            timeout=c.publish_timeout_s,
        )

    def _set(self, state: LinkState, **facts: object) -> None:
        self.state = state
        log.info("uplink.state", state=state.value, host=self.config.host, port=self.config.port, **facts)

    async def run(self, session: Callable[[Link], Awaitable[None]]) -> None:
        """Connect, run the session, reconnect after failures; returns when a session returns."""
        while True:
            self._set(LinkState.CONNECTING)
            failure: BaseException | None = None
            try:
                async with self._client() as client:
                    self.connections += 1
                    self.backoff.reset()
                    self._set(LinkState.CONNECTED, connection=self.connections)
                    await session(Link(client, self.device_id, self.config))
            except* aiomqtt.MqttError as group:
                failure = group.exceptions[0]
            except* UplinkError as group:
                failure = group.exceptions[0]
            if failure is None:
                self._set(LinkState.CLOSED)
                return
            delay = self.backoff.next_delay()
            self._set(LinkState.BACKING_OFF, error=str(failure), retry_in_s=round(delay, 2))
            await asyncio.sleep(delay)
