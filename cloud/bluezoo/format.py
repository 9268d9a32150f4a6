"""The BlueZoo REST format we assume: written down here, parsed here, nowhere else.

BlueZoo's real API was not available to us; this is the contract the adapter is built and
tested against (tests/integrations/bluezoo_server.py serves exactly this). If BlueZoo's actual
format differs, this module is the one to change.

Request::

    GET {base_url}/v1/sightings?limit=<n>[&cursor=<opaque>]
    Authorization: Bearer <api key>

Response 200 (application/json)::

    {
      "data": [
        {
          "id": "sg_000123",                      # unique per sighting, stable across retries
          "sensor_id": "S-42",                    # BlueZoo's sensor id
          "seen_at": "2026-11-23T10:15:00.250Z",  # RFC 3339, UTC or with offset
          "device_hash": "9f3a...",               # BlueZoo's own hash of the MAC (any length)
          "signal": "ble" | "wifi",               # BLE advertisement or WiFi probe request
          "rssi": -63,                            # dBm, integer
          "randomized": false,                    # locally administered MAC
          "lat": 48.2082, "lon": 16.3738          # optional: the sensor's position
        }
      ],
      "next_cursor": "c_...",   # pass back to get the page after this one; null at the end
      "has_more": true
    }

Other answers: 401/403 bad credentials; 429 with `Retry-After` (seconds or an HTTP date) when
rate limited; 5xx transient. Pages are ordered; a cursor never yields a record twice.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloud.analytics.observations import FLAG_RANDOMIZED, KIND_BLE, KIND_WIFI
from cloud.bluezoo.exceptions import BlueZooFormatError

PATH = "/v1/sightings"
_SIGNALS = {"ble": KIND_BLE, "wifi": KIND_WIFI}


@dataclass(frozen=True, slots=True)
class Sighting:
    id: str
    sensor_id: str
    ts_ms: int
    kind: str  # our KIND_*
    device_hash: str
    rssi: int
    flags: int
    lat_e6: int | None
    lon_e6: int | None


@dataclass(frozen=True, slots=True)
class Page:
    sightings: tuple[Sighting, ...]
    rejected: tuple[tuple[Any, str], ...]  # (raw record, why)
    next_cursor: str | None
    has_more: bool


def query(*, limit: int, cursor: str | None) -> dict[str, str]:
    params = {"limit": str(limit)}
    if cursor:
        params["cursor"] = cursor
    return params


def _e6(v: Any) -> int | None:
    return None if v is None else round(float(v) * 1_000_000)


def sighting(raw: Any) -> Sighting:
    """One record, or ValueError saying what is wrong with it."""
    if not isinstance(raw, dict):
        raise ValueError("record is not an object")
    try:
        seen = datetime.fromisoformat(str(raw["seen_at"]).replace("Z", "+00:00"))
        if seen.tzinfo is None:
            raise ValueError("seen_at has no UTC offset")
        kind = _SIGNALS[raw["signal"]]
        rssi = raw["rssi"]
        if not isinstance(rssi, int) or not -127 <= rssi <= 0:
            raise ValueError(f"rssi {rssi!r} is not an integer dBm in -127..0")
        ident, sensor, dev = raw["id"], raw["sensor_id"], raw["device_hash"]
        if not all(isinstance(x, str) and x for x in (ident, sensor, dev)):
            raise ValueError("id, sensor_id and device_hash must be non-empty strings")
        return Sighting(
            id=ident,
            sensor_id=sensor,
            ts_ms=int(seen.timestamp() * 1000),
            kind=kind,
            device_hash=dev,
            rssi=rssi,
            flags=FLAG_RANDOMIZED if raw.get("randomized") else 0,
            lat_e6=_e6(raw.get("lat")),
            lon_e6=_e6(raw.get("lon")),
        )
    except KeyError as e:
        raise ValueError(f"missing or unknown {e.args[0]!r}") from None


def page(body: Any, *, url: str) -> Page:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise BlueZooFormatError(url=url, reason="expected an object with a 'data' list")
    good: list[Sighting] = []
    bad: list[tuple[Any, str]] = []
    for raw in body["data"]:
        try:
            good.append(sighting(raw))
        except (ValueError, TypeError) as e:
            bad.append((raw, str(e)))
    cursor = body.get("next_cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise BlueZooFormatError(url=url, reason="next_cursor must be a string or null")
    has_more = bool(body.get("has_more", cursor is not None))
    if has_more and not cursor:
        raise BlueZooFormatError(url=url, reason="has_more without a next_cursor")
    return Page(tuple(good), tuple(bad), cursor, has_more)


def hid(key: bytes, device_hash: str) -> str:
    """Our 16-hex hashed id for BlueZoo's device hash (their ids never enter our tables)."""
    return hmac.new(key, device_hash.encode(), hashlib.sha256).hexdigest()[:16]
