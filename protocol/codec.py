"""The protocol v1 codec: the envelope, encode() and decode(). Shared by cloud, edge agent and firmware.

    decode(payload, topic=None) -> Message     any bad input raises ProtocolError, nothing else
    encode(message, check=True) -> bytes        validates first, compact JSON
    encode_into(message, buf, check=True) -> n  the same bytes written into buf[:n] (a device's heap)
    make(type, device, boot, seq, ts, body)     a Message of this codec's version

Checks run in the order SPEC.md ("Decoding order") fixes, so that every interpreter names the same
error for the same input: topic, size, JSON, envelope, topic agreement, body. Body checks live per
direction (downlink.py, uplink.py) and load on first use, so a device, which decodes only downlink
bodies, never holds the uplink ones in its heap.

Runs unchanged on CPython 3.11 and MicroPython 1.2x: no typing, no dataclasses, no exception chaining;
signature annotations are fine (MicroPython does not evaluate them).
The one platform difference is the JSON parser (see _parse).
"""

import io
import json
import sys

from protocol.errors import (
    BAD_DEVICE_ID,
    BAD_FIELD,
    EMPTY_PAYLOAD,
    MALFORMED_JSON,
    NOT_AN_OBJECT,
    TOO_LARGE,
    TOPIC_MISMATCH,
    UNKNOWN_TYPE,
    UNSUPPORTED_VERSION,
    ProtocolError,
)
from protocol.fields import BOOT_ID, INT31, INT53, bad, get, matches
from protocol.topics import CHANNEL_TYPE, CHANNELS, DOWNLINK, MAJOR, TYPE_CHANNEL, is_device_id, parse_topic
from protocol.topics import topic as make_topic

VERSION = "1.0"
MAX_PAYLOAD = 65536  # bytes, any message
MAX_DOWNLINK = 16384  # bytes, messages to devices: an ESP32 parses them in ~100 KB of heap
MAX_OBS = 500  # bodies.MAX_OBS, repeated so that a device need not load bodies (a test holds them equal)
TYPES = tuple([CHANNEL_TYPE[c] for c in CHANNELS])
_DOWNLINK_TYPES = tuple([CHANNEL_TYPE[c] for c in DOWNLINK])


class Message:
    """One protocol message: the seven envelope fields. ``body`` is the decoded JSON object, unknown
    keys included (they are ignored, not dropped, so a relay passes newer minors' fields on)."""

    __slots__ = ("body", "boot", "device", "seq", "ts", "type", "v")

    def __init__(self, v, type, device, boot, seq, ts, body):
        self.v = v
        self.type = type
        self.device = device
        self.boot = boot
        self.seq = seq
        self.ts = ts
        self.body = body

    def topic(self) -> str:
        """The topic this message travels on."""
        return make_topic(self.device, TYPE_CHANNEL[self.type])

    def __eq__(self, other):
        return (
            isinstance(other, Message)
            and self.v == other.v
            and self.type == other.type
            and self.device == other.device
            and self.boot == other.boot
            and self.seq == other.seq
            and self.ts == other.ts
            and self.body == other.body
        )

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = None  # mutable, compared by value

    def __repr__(self):
        return (
            f"Message(v={self.v!r}, type={self.type!r}, device={self.device!r}, boot={self.boot!r}, "
            f"seq={self.seq!r}, ts={self.ts!r}, body={self.body!r})"
        )


def make(type: str, device: str, boot: str, seq: int, ts: int, body: dict) -> Message:
    """A Message of version VERSION. Not validated here: encode() does it once, where it counts."""
    return Message(VERSION, type, device, boot, seq, ts, body)


def decode(payload: bytes | bytearray | memoryview | str, topic: str | None = None) -> Message:
    """The Message in ``payload`` (bytes, bytearray, memoryview, or str taken as UTF-8).

    With ``topic``, also checks that the topic's major is 1 and that its device id and channel agree
    with the envelope; the topic is checked first, and a downlink topic lowers the size limit before
    anything is parsed (what keeps a device's heap safe).
    """
    limit = MAX_PAYLOAD
    channel = None
    if topic is not None:
        major, device, channel = parse_topic(topic)
        if major != MAJOR:
            raise ProtocolError(
                UNSUPPORTED_VERSION,
                f"topic speaks protocol major {major}; this side speaks {MAJOR}",
                "topic",
            )
        if channel in DOWNLINK:
            limit = MAX_DOWNLINK
    if type(payload) is str:
        payload = payload.encode()
    elif not isinstance(payload, (bytes, bytearray, memoryview)):
        raise ProtocolError(MALFORMED_JSON, "payload must be bytes")
    size = len(payload)
    if size == 0:
        raise ProtocolError(EMPTY_PAYLOAD, "payload is empty (an MQTT retained-message deletion)")
    _check_size(size, limit)
    obj = _parse(payload)
    if type(obj) is not dict:
        raise ProtocolError(NOT_AN_OBJECT, "payload must be a JSON object")
    msg = _envelope(obj)
    if topic is not None:
        if msg.device != device:
            raise ProtocolError(
                TOPIC_MISMATCH,
                f"envelope device {msg.device!r} is not the topic's device {device!r}",
                "device",
            )
        if TYPE_CHANNEL[msg.type] != channel:
            raise ProtocolError(
                TOPIC_MISMATCH, f"a {msg.type} message does not belong on channel {channel}", "type"
            )
    elif msg.type in _DOWNLINK_TYPES:
        _check_size(size, MAX_DOWNLINK)
    _check_body(msg.type, msg.body)
    return msg


def encode(msg: Message, check: bool = True) -> bytes:
    """``msg`` as compact UTF-8 JSON; raises ProtocolError if it would not decode.

    ``check=False`` skips the body check (the envelope and the size are still checked): for a sender
    whose bodies are well-formed by construction and whose receiver decodes, hence validates, anyway,
    e.g. a device's uplink, where the uplink checks would cost more heap than they are worth.
    Values under body keys this version does not know are passed through unchecked; on MicroPython,
    whose json.dumps writes sets and bytes as if they were JSON, the caller must keep them JSON.
    """
    obj = _checked(msg, check)
    try:
        data = _dumps(obj).encode()
    except (TypeError, ValueError) as e:
        raise _not_json(e)  # noqa: B904 (see errors)
    _check_size(len(data), MAX_DOWNLINK if msg.type in _DOWNLINK_TYPES else MAX_PAYLOAD)
    return data


def encode_into(msg: Message, buf: bytearray, check: bool = True) -> int:
    """encode() into ``buf``: the same bytes, written to buf[:n]; returns n. For a small heap: on
    MicroPython the JSON is written piece by piece into the caller's buffer (allocated once, while the
    heap is still in one piece), with no string of the whole message and no copy of it. A message
    longer than ``buf`` raises ProtocolError too_large (buf's content is then undefined)."""
    obj = _checked(msg, check)
    out = Into(buf, min(len(buf), MAX_DOWNLINK if msg.type in _DOWNLINK_TYPES else MAX_PAYLOAD))
    try:
        _dump(obj, out)
    except (TypeError, ValueError) as e:
        raise _not_json(e)  # noqa: B904
    return out.n


def _check_body(t, body):
    # The direction's checks are imported on first use (then it is a sys.modules lookup).
    if t in _DOWNLINK_TYPES:
        from protocol.downlink import CHECKS
    else:
        from protocol.uplink import CHECKS
    CHECKS[t](body)


def _check_size(size, limit):
    if size > limit:
        raise ProtocolError(TOO_LARGE, f"payload is {size} bytes, at most {limit} allowed")


def _checked(msg, check):
    # The envelope object of ``msg``, its fields (and with ``check`` its body) validated.
    if not isinstance(msg, Message):
        raise ProtocolError(BAD_FIELD, "encode() takes a Message")
    obj = {
        "v": msg.v,
        "type": msg.type,
        "device": msg.device,
        "boot": msg.boot,
        "seq": msg.seq,
        "ts": msg.ts,
        "body": msg.body,
    }
    _envelope(obj)
    if check:
        _check_body(msg.type, msg.body)
    return obj


def _not_json(e):
    # What json refused: a lone surrogate (which a "\ud800" escape decodes to), or a non-JSON value.
    if isinstance(e, UnicodeError):
        return ProtocolError(BAD_FIELD, "strings must be valid Unicode", "body")
    return ProtocolError(BAD_FIELD, "body must hold JSON values only", "body")


class Into(io.IOBase):
    # A stream over buf[:limit] that json writes into piece by piece from buf[n:] (on MicroPython,
    # json.dump takes only IOBase streams and calls write() with a view of its own buffer: nothing is
    # allocated per piece but the slice). Also how a device writes JSON in place (its telemetry rows).
    def __init__(self, buf, limit):
        self.buf = buf
        self.limit = limit
        self.n = 0

    def write(self, b):
        n = self.n
        end = n + len(b)
        if end > self.limit:
            raise ProtocolError(TOO_LARGE, f"payload is over {self.limit} bytes, at most {self.limit} fit")
        self.buf[n:end] = b
        self.n = end
        return len(b)


if sys.implementation.name == "micropython":

    def _parse(payload):
        # MicroPython's json reads bytes directly (no decoded copy) and checks UTF-8 itself. It is laxer
        # than CPython's on some non-JSON (SPEC.md, "Parsing"); a conforming encoder never writes those.
        try:
            return json.loads(payload)
        except ValueError:  # UnicodeError is a ValueError here too
            raise ProtocolError(MALFORMED_JSON, "payload is not UTF-8 JSON")  # noqa: B904
        except MemoryError:
            raise ProtocolError(TOO_LARGE, "payload does not fit in memory once parsed")  # noqa: B904

    def _dumps(obj):
        return json.dumps(obj, separators=(",", ":"))

    def _dump(obj, out):
        json.dump(obj, out, separators=(",", ":"))

else:  # in its own module, which a device never loads
    from protocol.strict_json import dumps as _dumps
    from protocol.strict_json import parse as _parse

    def _dump(obj, out):
        out.write(_dumps(obj).encode())


def _envelope(obj):
    """The Message of a decoded envelope object, fields checked in SPEC order; the body is not checked."""
    v = get(obj, "v", "", True)
    if _major(v) != MAJOR:
        raise ProtocolError(
            UNSUPPORTED_VERSION,
            f"protocol major version in v={v!r} is not supported; this side speaks {MAJOR}",
            "v",
        )
    t = get(obj, "type", "", True)
    if type(t) is not str:
        raise bad("type", "a string")
    if t not in TYPE_CHANNEL:
        raise ProtocolError(UNKNOWN_TYPE, f"type {t[:32]!r} is not a protocol v1 message type", "type")
    device = get(obj, "device", "", True)
    if not is_device_id(device):
        raise ProtocolError(BAD_DEVICE_ID, "device must match [a-z0-9][a-z0-9-]{2,62}", "device")
    boot = get(obj, "boot", "", True)
    if not matches(boot, BOOT_ID):
        raise bad("boot", BOOT_ID[0])
    seq = get(obj, "seq", "", True)
    if type(seq) is not int or seq < 0 or seq > INT31:
        raise bad("seq", f"an integer from 0 to {INT31}")
    ts = get(obj, "ts", "", True)
    if type(ts) is not int or ts < 0 or ts > INT53:
        raise bad("ts", f"an integer from 0 to {INT53} (milliseconds since the Unix epoch)")
    body = get(obj, "body", "", True)
    if type(body) is not dict:
        raise bad("body", "an object")
    return Message(v, t, device, boot, seq, ts, body)


def _major(v):
    """The major of a version string "<major>.<minor>" (decimal, at most 4 digits each)."""
    if type(v) is str:
        dot = v.find(".")
        major = v[:dot]
        minor = v[dot + 1 :]
        if (
            dot > 0
            and 0 < len(major) <= 4
            and 0 < len(minor) <= 4
            and not (major + minor).strip("0123456789")
        ):
            return int(major)
    raise bad("v", 'a version string "<major>.<minor>", e.g. "1.0"')
