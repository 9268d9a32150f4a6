"""What desired config each hardware kind accepts (JSON Schema, draft 2020-12).

Unknown settings are refused: a typo in a desired document must be a 422 for the operator, not a
silent no-op on a truck. Settings shared by every kind are in COMMON; each kind adds its own (or
widens a common one's range).
"""

from __future__ import annotations

from typing import Any

from cloud.registry.models import HardwareKind

# The vocabulary is the devices' (protocol/SPEC.md 5.4 leaves it to them): firmware/src/shadow.py
# (SCHEMA, documented in firmware/README.md) and edge_agent/config.py (Tunables). A key a device does
# not know is refused here: the agent rejects a desired document with an unknown key as a whole, and
# the firmware ignores it, so either way the operator's change would never take effect.
# tests/e2e/test_config_vocabulary.py keeps these in step with the devices' own tables.
COMMON: dict[str, Any] = {
    "heartbeat_s": {"type": "integer", "minimum": 5, "maximum": 3600},
    "rssi_floor": {"type": "integer", "minimum": -127, "maximum": 0},
    "rotation_s": {"type": "integer", "minimum": 60, "maximum": 604_800},
}

_KIND: dict[str, dict[str, Any]] = {
    HardwareKind.ESP32: {
        "batch_s": {"type": "integer", "minimum": 1, "maximum": 3600},
        "batch_max": {"type": "integer", "minimum": 1, "maximum": 32},
        "scan_ms": {"type": "integer", "minimum": 500, "maximum": 60_000},
    },
    HardwareKind.RPI: {
        "rotation_s": {"type": "integer", "minimum": 60, "maximum": 30 * 86_400},
        "batch_size": {"type": "integer", "minimum": 1, "maximum": 500},
        "batch_max_age_s": {"type": "integer", "minimum": 1, "maximum": 3600},
        "ble_scan_s": {"type": "integer", "minimum": 1, "maximum": 3600},
        "ble_idle_s": {"type": "integer", "minimum": 0, "maximum": 3600},
        "fix_max_gap_s": {"type": "integer", "minimum": 1, "maximum": 3600},
    },
    HardwareKind.THIRD_PARTY: {},
}


def schema_for(hardware: str | None) -> dict[str, Any]:
    """The schema of `hardware`'s desired config; a device of unknown kind gets the common settings only."""
    props = {**COMMON, **_KIND.get(hardware or "", {})}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"desired config of a {hardware or 'device of unknown kind'}",
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }
