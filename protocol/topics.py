"""MQTT topics of protocol v1: ``mob/v<major>/<device id>/<channel>``.

Every topic string of the platform is built and parsed here (SPEC.md, "Topics"). The major version sits
in the topic so that a v2 can share a broker with v1 and so that the cloud can answer a device speaking
a major it does not know on that device's own error channel.
"""

from protocol.errors import BAD_DEVICE_ID, BAD_TOPIC, UNKNOWN_CHANNEL, ProtocolError

ROOT = "mob"
MAJOR = 1
PREFIX = "mob/v1"

# Device -> cloud.
HELLO = "hello"
HEARTBEAT = "heartbeat"
TELEMETRY = "telemetry"
CONFIG_REPORTED = "config/reported"
OTA_STATUS = "ota/status"
CMD_REPLY = "cmd/reply"
STATUS = "status"
# Cloud -> device.
CONFIG_DESIRED = "config/desired"
OTA_OFFER = "ota/offer"
CMD = "cmd"
ERROR = "error"

UPLINK = (HELLO, HEARTBEAT, TELEMETRY, CONFIG_REPORTED, OTA_STATUS, CMD_REPLY, STATUS)
DOWNLINK = (CONFIG_DESIRED, OTA_OFFER, CMD, ERROR)
CHANNELS = UPLINK + DOWNLINK

CHANNEL_TYPE = {
    HELLO: "hello",
    HEARTBEAT: "heartbeat",
    TELEMETRY: "telemetry",
    CONFIG_REPORTED: "config_reported",
    OTA_STATUS: "ota_status",
    CMD_REPLY: "cmd_reply",
    STATUS: "status",
    CONFIG_DESIRED: "config_desired",
    OTA_OFFER: "ota_offer",
    CMD: "cmd",
    ERROR: "error",
}
TYPE_CHANNEL = {t: c for c, t in CHANNEL_TYPE.items()}

_ID_FIRST = "abcdefghijklmnopqrstuvwxyz0123456789"
_ID_CHARS = _ID_FIRST + "-"


def is_device_id(value: object) -> bool:
    """``[a-z0-9][a-z0-9-]{2,62}``: fits a topic level, a hostname label and a file name."""
    return (
        type(value) is str and 3 <= len(value) <= 63 and not value.strip(_ID_CHARS) and value[0] in _ID_FIRST
    )


def topic(device_id: str, channel: str, major: int = MAJOR) -> str:
    """The topic of ``channel`` for ``device_id``; ``major`` other than 1 only to answer on another
    major's error channel."""
    if not is_device_id(device_id):
        raise ProtocolError(BAD_DEVICE_ID, "device id must match [a-z0-9][a-z0-9-]{2,62}", "device")
    if channel not in CHANNEL_TYPE:
        raise ProtocolError(UNKNOWN_CHANNEL, "unknown channel", "topic")
    return f"{ROOT}/v{major}/{device_id}/{channel}"


def parse_topic(value: str) -> tuple[int, str, str]:
    """``(major, device_id, channel)`` of a topic. The channel is checked against v1's only when the
    major is 1: the caller decides what to do with other majors (the codec rejects them)."""
    if type(value) is not str or len(value) > 256:
        raise ProtocolError(BAD_TOPIC, "topic must be a string of at most 256 characters", "topic")
    parts = value.split("/", 3)
    if len(parts) < 4 or parts[0] != ROOT:
        raise ProtocolError(BAD_TOPIC, "topic must look like mob/v1/<device id>/<channel>", "topic")
    ver = parts[1]
    digits = ver[1:]
    if (
        len(ver) < 2
        or len(ver) > 5
        or ver[0] != "v"
        or digits.strip("0123456789")
        or (digits[0] == "0" and len(digits) > 1)
    ):
        raise ProtocolError(BAD_TOPIC, "topic version level must be v<major>, e.g. v1", "topic")
    if not is_device_id(parts[2]):
        raise ProtocolError(BAD_DEVICE_ID, "topic device id must match [a-z0-9][a-z0-9-]{2,62}", "topic")
    major = int(digits)
    if major == MAJOR and parts[3] not in CHANNEL_TYPE:
        raise ProtocolError(UNKNOWN_CHANNEL, "topic channel is not a protocol v1 channel", "topic")
    return major, parts[2], parts[3]
