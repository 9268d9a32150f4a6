"""What desired config each hardware kind accepts (JSON Schema, draft 2020-12).

Unknown settings are refused: a typo in a desired document must be a 422 for the operator, not a
silent no-op on a truck. Settings shared by every kind are in COMMON; each kind adds its own.
"""

from __future__ import annotations

from typing import Any

from cloud.registry.models import HardwareKind

_WINDOW = {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"}

COMMON: dict[str, Any] = {
    "heartbeat_s": {"type": "integer", "minimum": 5, "maximum": 3600},
    "batch_s": {"type": "integer", "minimum": 1, "maximum": 600},
    "rssi_floor": {"type": "integer", "minimum": -127, "maximum": 0},
    "scan_wifi": {"type": "boolean"},
    "scan_ble": {"type": "boolean"},
    "sleep_schedule": {"type": "array", "items": _WINDOW, "maxItems": 8},
    "log_level": {"enum": ["debug", "info", "warning", "error"]},
}

_KIND: dict[str, dict[str, Any]] = {
    HardwareKind.ESP32: {
        "ble_scan_window_ms": {"type": "integer", "minimum": 10, "maximum": 10_000},
        "wifi_channel_dwell_ms": {"type": "integer", "minimum": 50, "maximum": 5_000},
        "outbox_max_batches": {"type": "integer", "minimum": 1, "maximum": 2_000},
    },
    HardwareKind.RPI: {
        "wifi_monitor_iface": {"type": "string", "pattern": r"^[a-z0-9]{1,15}$"},
        "outbox_max_mb": {"type": "integer", "minimum": 1, "maximum": 100_000},
        "upload_parallelism": {"type": "integer", "minimum": 1, "maximum": 16},
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
