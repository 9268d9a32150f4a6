"""What desired config each hardware kind accepts (JSON Schema, draft 2020-12).

Unknown settings are refused: a typo in a desired document must be a 422 for the operator, not a
silent no-op on a truck. Each kind has its own vocabulary; COMMON serves a device of unknown kind.
"""

from __future__ import annotations

from typing import Any

from cloud.registry.models import HardwareKind


def _int(lo: int, hi: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": lo, "maximum": hi}


# Each kind's vocabulary is the device's own (edge_agent/config.py `Tunables`, firmware/src/shadow.py
# `SCHEMA`): tests/test_config_vocabulary.py keeps the three in step, so a config the API accepts is
# one the device applies. Presence's sleep schedule is a registry field, not device config.
_KIND: dict[str, dict[str, Any]] = {
    HardwareKind.ESP32: {
        "heartbeat_s": _int(5, 3600),
        "batch_s": _int(1, 3600),
        "batch_max": _int(1, 32),
        "scan_ms": _int(500, 60_000),
        "rssi_floor": _int(-127, 0),
        "rotation_s": _int(60, 604_800),
    },
    HardwareKind.RPI: {
        "heartbeat_s": _int(5, 86_400),
        "rssi_floor": _int(-127, 0),
        "rotation_s": _int(60, 30 * 86_400),
        "batch_size": _int(1, 500),
        "batch_max_age_s": _int(1, 3600),
        "ble_scan_s": _int(1, 3600),
        "ble_idle_s": _int(0, 3600),
        "fix_max_gap_s": _int(1, 3600),
    },
    HardwareKind.THIRD_PARTY: {},
}
# What every kind accepts, for a device whose kind is not known yet: the keys all kinds share,
# with the narrowest range.
COMMON: dict[str, Any] = {
    "heartbeat_s": _int(5, 3600),
    "rssi_floor": _int(-127, 0),
    "rotation_s": _int(60, 604_800),
}


def schema_for(hardware: str | None) -> dict[str, Any]:
    """The schema of `hardware`'s desired config; a device of unknown kind gets the common settings only."""
    props = _KIND.get(hardware or "", COMMON)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"desired config of a {hardware or 'device of unknown kind'}",
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }
