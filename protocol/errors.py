"""The one exception of the protocol package, and the reason codes it carries.

    ProtocolError            every rejected topic, payload or message
      .code                  one of CODES: short snake_case, stable, sent to devices on the error channel
      .reason                a sentence naming the field and the limit, for people
      .field                 the field path ("seq", "body.obs[3].rssi") or None

The tree is one class deep on purpose: callers branch on ``code``, which travels over MQTT, rather
than on Python classes, which do not. Codes are part of the protocol (SPEC.md, "Error codes").
Shared with MicroPython: no typing, no dataclasses, no exception chaining (it prints a warning there).
"""

EMPTY_PAYLOAD = "empty_payload"
TOO_LARGE = "too_large"
MALFORMED_JSON = "malformed_json"
NOT_AN_OBJECT = "not_an_object"
UNSUPPORTED_VERSION = "unsupported_version"
MISSING_FIELD = "missing_field"
BAD_FIELD = "bad_field"
UNKNOWN_TYPE = "unknown_type"
BAD_DEVICE_ID = "bad_device_id"
BAD_TOPIC = "bad_topic"
UNKNOWN_CHANNEL = "unknown_channel"
TOPIC_MISMATCH = "topic_mismatch"

CODES = (
    EMPTY_PAYLOAD,
    TOO_LARGE,
    MALFORMED_JSON,
    NOT_AN_OBJECT,
    UNSUPPORTED_VERSION,
    MISSING_FIELD,
    BAD_FIELD,
    UNKNOWN_TYPE,
    BAD_DEVICE_ID,
    BAD_TOPIC,
    UNKNOWN_CHANNEL,
    TOPIC_MISMATCH,
)


class ProtocolError(Exception):
    """A topic or payload that breaks protocol v1; ``code`` says how, ``reason`` says where."""

    def __init__(self, code, reason, field=None):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.field = field
