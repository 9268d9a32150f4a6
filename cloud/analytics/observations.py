"""The observation as ingested: one hashed device id seen by one sensor at one moment.

Rows from the database or decoded telemetry can be wrapped positionally (`Observation(*row)`);
the core never sees a raw MAC, only `hid`, the 16-hex keyed hash made on the sensor.
"""

from __future__ import annotations

from typing import NamedTuple

KIND_WIFI = "w"  # a WiFi probe request
KIND_BLE = "b"  # a BLE advertisement
KINDS = frozenset({KIND_WIFI, KIND_BLE})

FLAG_RANDOMIZED = 0x01  # bit 0: the MAC was locally administered (randomized)


class Observation(NamedTuple):
    device_id: str  # the sensor that saw it
    ts_ms: int  # UTC epoch milliseconds
    kind: str  # KIND_WIFI | KIND_BLE
    hid: str  # keyed hash of the MAC, 16 hex
    rssi: int  # dBm
    flags: int  # FLAG_* bits
    lat_e6: int | None = None  # sensor position at that moment, degrees * 1e6
    lon_e6: int | None = None

    @property
    def randomized(self) -> bool:
        return bool(self.flags & FLAG_RANDOMIZED)
