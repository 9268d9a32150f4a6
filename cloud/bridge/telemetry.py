"""The fast path for telemetry: well-formed batches decoded by msgspec, everything else by the codec.

Telemetry is nearly all the bytes the bridge reads, and the protocol codec, which also runs on the
ESP32, builds a dict and a list per observation and then checks them in a Python loop: with
`json.loads` it was the largest part of the bridge's time in `bench/ingest.py` (py-spy), ~1.3 µs
per observation. Here a msgspec decoder typed after SPEC.md's telemetry body parses, type-checks and
range-checks the whole message in C into `ObsRow`s (cloud/ingest/rows.py: no garbage-collector
traffic), and two checks per batch (not per field) finish the job: ~0.3 µs per observation.

The codec stays the judge. This path accepts a strict subset of what `protocol.codec.decode`
accepts, with the same values: no unknown keys anywhere (a newer minor's field goes the codec's
way), rows of exactly seven columns and GPS fixes of exactly five. Whenever it has the slightest
doubt it answers None, and the caller decodes with the codec, which accepts the message or names
the error the dead letter and the device's error reply carry (tests/protocol/test_cloud_fast_path.py
holds both paths to the protocol's vectors and to corrupted payloads).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from cloud.ingest.rows import Dt, Lat, Lon, ObsRow
from cloud.ingest.store import Batch
from protocol import bodies, topics
from protocol.codec import MAX_PAYLOAD
from protocol.errors import ProtocolError
from protocol.fields import BOOT_ID, HEX, INT31, INT53, TOKEN, matches

_Int = Annotated[int, msgspec.Meta(ge=0, le=INT31)]
_Ms = Annotated[int, msgspec.Meta(ge=0, le=INT53)]
_HEX = HEX.encode()
# [dt_ms, lat_e6, lon_e6, speed_cm_s, fix_quality]
_Fix = tuple[
    Dt,
    Lat,
    Lon,
    Annotated[int, msgspec.Meta(ge=0, le=bodies.MAX_SPEED)],
    Annotated[int, msgspec.Meta(ge=0, le=bodies.MAX_FIX)],
]


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    batch: _Int
    t0: _Ms
    obs: Annotated[list[ObsRow], msgspec.Meta(max_length=bodies.MAX_OBS)]
    gps: Annotated[list[_Fix], msgspec.Meta(max_length=bodies.MAX_GPS)] | msgspec.UnsetType = msgspec.UNSET
    key: str | msgspec.UnsetType = msgspec.UNSET


class _Envelope(msgspec.Struct, forbid_unknown_fields=True):
    v: str
    type: Literal["telemetry"]
    device: str
    boot: str
    seq: _Int
    ts: _Ms
    body: _Body


_DECODER = msgspec.json.Decoder(_Envelope)


def decode_batch(topic: str, payload: bytes) -> Batch | None:
    """The batch in a telemetry message the codec would accept as is; None: ask the codec."""
    try:
        major, device, channel = topics.parse_topic(topic)
    except ProtocolError:
        return None
    if major != topics.MAJOR or channel != topics.TELEMETRY or not 0 < len(payload) <= MAX_PAYLOAD:
        return None
    try:
        msg = _DECODER.decode(payload)
    except (msgspec.DecodeError, ValueError):  # ValidationError; UnicodeDecodeError in a string
        return None
    b = msg.body
    if (
        msg.device != device
        or not _v1(msg.v)
        or not topics.is_device_id(msg.device)
        or not matches(msg.boot, BOOT_ID)
        or (b.key is not msgspec.UNSET and not matches(b.key, TOKEN))
        or not _rows_ok(b.obs)
    ):
        return None
    return Batch(msg.device, msg.boot, b.batch, msg.seq, b.t0, b.obs)


def _v1(v: str) -> bool:
    # "1.<minor>", minor 1 to 4 decimal digits: a subset of what the codec reads as major 1.
    minor = v[2:]
    return v[:2] == "1." and 0 < len(minor) <= 4 and not minor.strip("0123456789")


def _rows_ok(rows: list[ObsRow]) -> bool:
    # lat_e6/lon_e6 both null or neither, and every hid lowercase hex: one C scan over all of them
    # (bytes.translate; str.strip(HEX) compares each character with the set, 0.13 µs a row). A
    # non-ASCII character, a lone surrogate included, becomes "?" and fails it.
    if [r for r in rows if (r.lat_e6 is None) is not (r.lon_e6 is None)]:
        return False
    return not "".join([r.hid for r in rows]).encode("ascii", "replace").translate(None, _HEX)
