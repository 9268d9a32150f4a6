"""A sighting: one device heard by one source, before privacy is applied.

Sightings hold the raw address and never leave the process: ``edge_agent.observations`` turns them
into hashed observations, the only form that is stored or sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """What radio heard the device; the values are protocol v1's observation kinds."""

    WIFI = "w"
    BLE = "b"


def is_locally_administered(address: bytes) -> bool:
    """True for a locally administered (randomised) MAC: bit 0x02 of the first octet."""
    return bool(address[0] & 0x02)


@dataclass(frozen=True, slots=True)
class Sighting:
    """A device heard at ``ts_ms`` (ms since the epoch) with ``rssi`` dBm (None if the radio did
    not say). ``address`` is the raw 6-byte MAC; ``randomized`` its locally administered bit (WiFi)
    or random address type (BLE); ``directed`` a probe request naming an SSID; ``fingerprint`` a
    digest of device traits (probe IEs, BLE manufacturer ids and services), kept on the sensor."""

    ts_ms: int
    kind: Kind
    address: bytes
    rssi: int | None
    randomized: bool
    directed: bool = False
    fingerprint: bytes = b""
