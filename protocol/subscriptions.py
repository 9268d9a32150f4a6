"""Who subscribes to which topics of protocol v1, and with what QoS and retain flag (SPEC.md, "Topics").

Only MQTT clients on CPython need this (the cloud's bridge, the Pi agent); the ESP32 firmware names its
few topics itself, so none of it takes heap on the device.
"""

from protocol.errors import BAD_DEVICE_ID, ProtocolError
from protocol.topics import (
    CHANNELS,
    CONFIG_DESIRED,
    DOWNLINK,
    HEARTBEAT,
    OTA_OFFER,
    ROOT,
    STATUS,
    UPLINK,
    is_device_id,
    topic,
)

# Heartbeats are QoS 0: one is only worth something when fresh, and the presence grace absorbs a lost
# one. Everything else is QoS 1 (at least once; receivers deduplicate).
QOS = {c: (0 if c == HEARTBEAT else 1) for c in CHANNELS}
# Retained: the state a (re)connecting subscriber must see at once.
RETAINED = (STATUS, CONFIG_DESIRED, OTA_OFFER)

CLOUD = "cloud"
DEVICE = "device"


def subscription(side: str, device_id: str | None = None) -> list[str]:
    """Topic filters a side subscribes to.

    cloud: the uplink channels of every device (or of ``device_id``) under every major, so that a
    device speaking an unknown major is heard and answered with unsupported_version.
    device: its own downlink channels; ``device_id`` is required.
    """
    if side == CLOUD:
        who = "+" if device_id is None else device_id
        if device_id is not None and not is_device_id(device_id):
            raise ProtocolError(BAD_DEVICE_ID, "device id must match [a-z0-9][a-z0-9-]{2,62}", "device")
        return [f"{ROOT}/+/{who}/{c}" for c in UPLINK]
    if side == DEVICE:
        return [topic(device_id, c) for c in DOWNLINK]
    raise ValueError(f"side must be {CLOUD!r} or {DEVICE!r}")
