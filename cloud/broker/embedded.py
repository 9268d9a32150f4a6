"""The embedded amqtt broker: the newcomer's single-process default.

amqtt speaks MQTT 3.1.1 only and has no shared subscriptions, so production points the cloud at
Mosquitto (or a cluster) instead; this broker exists so `mobilytics up` needs nothing installed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from amqtt.broker import Broker
from amqtt.errors import BrokerError

from cloud.broker.ports import is_port_free
from cloud.exceptions import BrokerStartError, PortInUseError


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def broker_config(host: str, port: int) -> dict[str, object]:
    """amqtt configuration: one TCP listener, anonymous clients (auth arrives with provisioning)."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }


@asynccontextmanager
async def embedded_broker(
    host: str = "127.0.0.1", port: int = 1883, *, flag: str = "--mqtt-port"
) -> AsyncIterator[BrokerAddress]:
    """Run an amqtt broker for the lifetime of the context.

    The port is probed first because amqtt logs and swallows some bind failures; a taken port must
    be a clear error that names the flag to change it.
    """
    if not is_port_free(host, port):
        raise PortInUseError(what="the embedded MQTT broker", host=host, port=port, flag=flag)
    # amqtt logs every packet at INFO; keep the newcomer's console readable.
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    broker = Broker(broker_config(host, port))
    try:
        await broker.start()
    except BrokerError as e:
        raise BrokerStartError(str(e)) from e
    try:
        yield BrokerAddress(host, port)
    finally:
        await broker.shutdown()
