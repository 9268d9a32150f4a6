"""One observation row of a telemetry batch as the ingest holds it: `ObsRow`, typed after SPEC.md.

A batch's rows are the bulk of what the cloud keeps in memory between decoding a flush and
committing it (200,000 of them for a full flush). A tuple per row is a container the garbage collector
tracks and walks; an `ObsRow` is a msgspec Struct with ``gc=False``, which it never sees: with tuples,
the collections the decoding itself set off took about a third of the decode time (measured on the
bench's batches, 0.38 against 0.25 µs per row).

The field types carry the protocol's ranges, so the bridge's fast path (cloud/bridge/telemetry.py)
decodes and checks a whole row in C. Building one from Python checks nothing (msgspec validates while
decoding only): the codec and the other sources have checked their rows already.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocol import bodies

Dt = Annotated[int, msgspec.Meta(ge=0, le=bodies.MAX_DT)]
Lat = Annotated[int, msgspec.Meta(ge=-90_000_000, le=90_000_000)]
Lon = Annotated[int, msgspec.Meta(ge=-180_000_000, le=180_000_000)]
HID_LENGTH = 16


class ObsRow(msgspec.Struct, array_like=True, gc=False, forbid_unknown_fields=True):
    """[dt_ms, kind, hid, rssi, flags, lat_e6, lon_e6] (SPEC: telemetry body, obs).

    Exactly seven columns when decoded (a later minor's eighth goes the codec's way). Not checked by
    the type: hid's characters (lowercase hex) and lat/lon being both null or neither; the fast path
    checks those per batch.
    """

    dt_ms: Dt
    kind: Literal["w", "b"]
    hid: Annotated[str, msgspec.Meta(min_length=HID_LENGTH, max_length=HID_LENGTH)]
    rssi: Annotated[int, msgspec.Meta(ge=-127, le=0)]
    flags: Annotated[int, msgspec.Meta(ge=0, le=255)]
    lat_e6: Lat | None
    lon_e6: Lon | None
