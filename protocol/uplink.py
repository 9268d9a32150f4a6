"""Checks of the bodies that travel device -> cloud (SPEC.md, "Bodies": hello, heartbeat, telemetry,
config_reported, ota_status, cmd_reply, status), one per type, keyed by type name.

The cloud decodes these; a device only encodes them, and skips them (codec.encode(..., check=False))
where the receiver's decode validates anyway. A check validates the keys it knows and leaves the others
alone: unknown keys are how minor versions add fields. Telemetry rows are the hot path (the cloud
decodes ~100k observations/s), so that loop is written inline with literal bounds.
"""

from protocol.bodies import (
    GPS_COLUMNS,
    MAX_CAPS,
    MAX_DT,
    MAX_FIX,
    MAX_GPS,
    MAX_OBS,
    MAX_SPEED,
    MAX_VERSIONS,
    OBS_COLUMNS,
    OTA_STATES,
    PRESENCE_STATES,
    REPLY_STATUSES,
)
from protocol.errors import TOO_LARGE, ProtocolError
from protocol.fields import (
    ABSENT,
    IDENT,
    INT31,
    INT53,
    MAX_ARGS_KEYS,
    MAX_CONFIG_KEYS,
    TEXT,
    TOKEN,
    VERSION,
    bad,
    check_str,
    config_field,
    free_field,
    get,
    int_field,
    object_field,
    path_of,
    str_field,
)


def enum_field(obj, key, allowed, where="body", required=True):
    value = get(obj, key, where, required)
    if value is ABSENT:
        return None
    if type(value) is not str or value not in allowed:
        raise bad(path_of(where, key), "one of " + ", ".join(allowed))
    return value


def list_field(obj, key, max_items, where="body", required=True):
    value = get(obj, key, where, required)
    if value is ABSENT:
        return None
    field = path_of(where, key)
    if type(value) is not list and type(value) is not tuple:
        raise bad(field, "a list")
    if len(value) > max_items:
        raise ProtocolError(TOO_LARGE, f"{field} has {len(value)} items, at most {max_items} allowed", field)
    return value


def _hello(b):
    str_field(b, "hw", TOKEN)
    str_field(b, "fw", VERSION)
    int_field(b, "heartbeat_s", 1, 86400)
    caps = list_field(b, "caps", MAX_CAPS)
    for i in range(len(caps)):
        check_str(caps[i], TOKEN, f"body.caps[{i}]")
    versions = object_field(b, "versions", MAX_VERSIONS, required=False)
    if versions is not None:
        for k in versions:
            check_str(k, TOKEN, "body.versions key")
            check_str(versions[k], VERSION, "body.versions." + k)
    str_field(b, "reset", TOKEN, required=False)
    int_field(b, "config_version", 0, INT31, required=False)


def _heartbeat(b):
    int_field(b, "uptime_s", 0, INT31)
    int_field(b, "interval_s", 1, 86400)
    int_field(b, "rssi", -127, 0, required=False)
    int_field(b, "free_mem", 0, INT53, required=False)
    int_field(b, "free_disk", 0, INT53, required=False)
    int_field(b, "outbox", 0, INT31, required=False)
    int_field(b, "dropped", 0, INT31, required=False)
    int_field(b, "temp_dc", -1000, 2000, required=False)
    int_field(b, "gps_fix", 0, MAX_FIX, required=False)
    str_field(b, "reset", TOKEN, required=False)
    str_field(b, "fw", VERSION, required=False)
    int_field(b, "config_version", 0, INT31, required=False)


def _telemetry(b):
    int_field(b, "batch", 0, INT31)
    int_field(b, "t0", 0, INT53)
    _observations(list_field(b, "obs", MAX_OBS))
    gps = list_field(b, "gps", MAX_GPS, required=False)
    if gps is not None:
        _fixes(gps)
    str_field(b, "key", TOKEN, required=False)


def _observations(rows):
    # Literal bounds (see MAX_DT, rssi -127..0, flags 0..255, microdegrees) keep the loop free of global
    # lookups; the error path names the row and column.
    for i, row in enumerate(rows):
        if (type(row) is not list and type(row) is not tuple) or len(row) < 7:
            raise bad(f"body.obs[{i}]", "a list of at least 7 items " + str(OBS_COLUMNS))
        v = row[0]
        if type(v) is not int or v < 0 or v > 86400000:
            raise bad(f"body.obs[{i}].dt_ms", f"an integer from 0 to {MAX_DT}")
        v = row[1]
        if v != "w" and v != "b":
            raise bad(f"body.obs[{i}].kind", '"w" (WiFi probe) or "b" (BLE advertisement)')
        v = row[2]
        if type(v) is not str or len(v) != 16 or v.strip("0123456789abcdef"):
            raise bad(f"body.obs[{i}].hid", "16 lowercase hex characters")
        v = row[3]
        if type(v) is not int or v < -127 or v > 0:
            raise bad(f"body.obs[{i}].rssi", "an integer from -127 to 0")
        v = row[4]
        if type(v) is not int or v < 0 or v > 255:
            raise bad(f"body.obs[{i}].flags", "an integer from 0 to 255")
        v = row[5]
        if v is None:
            if row[6] is not None:
                raise bad(f"body.obs[{i}].lon_e6", "null when lat_e6 is null")
        elif type(v) is not int or v < -90000000 or v > 90000000:
            raise bad(f"body.obs[{i}].lat_e6", "null or an integer from -90000000 to 90000000")
        else:
            v = row[6]
            if type(v) is not int or v < -180000000 or v > 180000000:
                raise bad(f"body.obs[{i}].lon_e6", "an integer from -180000000 to 180000000 when lat_e6 is")


def _fixes(rows):
    for i, row in enumerate(rows):
        if (type(row) is not list and type(row) is not tuple) or len(row) < 5:
            raise bad(f"body.gps[{i}]", "a list of at least 5 items " + str(GPS_COLUMNS))
        v = row[0]
        if type(v) is not int or v < 0 or v > 86400000:
            raise bad(f"body.gps[{i}].dt_ms", f"an integer from 0 to {MAX_DT}")
        v = row[1]
        if type(v) is not int or v < -90000000 or v > 90000000:
            raise bad(f"body.gps[{i}].lat_e6", "an integer from -90000000 to 90000000")
        v = row[2]
        if type(v) is not int or v < -180000000 or v > 180000000:
            raise bad(f"body.gps[{i}].lon_e6", "an integer from -180000000 to 180000000")
        v = row[3]
        if type(v) is not int or v < 0 or v > MAX_SPEED:
            raise bad(f"body.gps[{i}].speed_cm_s", f"an integer from 0 to {MAX_SPEED}")
        v = row[4]
        if type(v) is not int or v < 0 or v > MAX_FIX:
            raise bad(f"body.gps[{i}].fix_quality", f"an integer from 0 to {MAX_FIX}")


def _config_reported(b):
    int_field(b, "version", 0, INT31)
    config_field(b, "config", required=False)
    err = object_field(b, "error", MAX_ARGS_KEYS, required=False)
    if err is not None:
        str_field(err, "code", TOKEN, "body.error")
        str_field(err, "reason", TEXT, "body.error")


def _ota_status(b):
    str_field(b, "job", IDENT)
    state = enum_field(b, "state", OTA_STATES)
    str_field(b, "version", VERSION, required=False)
    int_field(b, "progress", 0, 100, required=False)
    str_field(b, "reason", TEXT, required=state == "failed" or state == "rolled-back")


def _cmd_reply(b):
    str_field(b, "id", IDENT)
    status = enum_field(b, "status", REPLY_STATUSES)
    free_field(b, "result", MAX_CONFIG_KEYS, required=False)
    str_field(b, "reason", TEXT, required=status == "error")


def _status(b):
    enum_field(b, "state", PRESENCE_STATES)
    str_field(b, "reason", TOKEN, required=False)


CHECKS = {
    "hello": _hello,
    "heartbeat": _heartbeat,
    "telemetry": _telemetry,
    "config_reported": _config_reported,
    "ota_status": _ota_status,
    "cmd_reply": _cmd_reply,
    "status": _status,
}
