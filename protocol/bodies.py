"""The vocabulary of the eleven v1 message bodies (SPEC.md, "Bodies"): limits, telemetry row columns and
flags, the closed sets of values. The checks themselves are per direction, so that a device loads only
what it decodes: uplink.py (device -> cloud) and downlink.py (cloud -> device), each a CHECKS dict
keyed by type name; the codec picks one by the message's type.
"""

from protocol.fields import MAX_ARGS_KEYS, MAX_CONFIG_KEYS  # noqa: F401 (part of this vocabulary)

MAX_OBS = 500  # observations per telemetry batch
MAX_GPS = 500  # GPS fixes per telemetry batch
MAX_DT = 86400000  # a batch spans at most a day: dt_ms from t0
MAX_CAPS = 32
MAX_VERSIONS = 16

# Telemetry observation row: [dt_ms, kind, hid, rssi, flags, lat_e6, lon_e6, ...later minors' columns]
OBS_DT, OBS_KIND, OBS_HID, OBS_RSSI, OBS_FLAGS, OBS_LAT, OBS_LON = 0, 1, 2, 3, 4, 5, 6
OBS_COLUMNS = ("dt_ms", "kind", "hid", "rssi", "flags", "lat_e6", "lon_e6")
KIND_WIFI = "w"  # a WiFi probe request
KIND_BLE = "b"  # a BLE advertisement
FLAG_RANDOMIZED = 1  # locally administered WiFi MAC or BLE random address
FLAG_DIRECTED = 2  # probe request naming an SSID / connectable BLE advertisement
FLAG_INFRA = 4  # the raw address is on the sensor's infrastructure list (fixed APs, the vehicle's gear)
# GPS row: [dt_ms, lat_e6, lon_e6, speed_cm_s, fix_quality, ...]
GPS_DT, GPS_LAT, GPS_LON, GPS_SPEED, GPS_FIX = 0, 1, 2, 3, 4
GPS_COLUMNS = ("dt_ms", "lat_e6", "lon_e6", "speed_cm_s", "fix_quality")
MAX_SPEED = 100000  # cm/s
MAX_FIX = 8  # NMEA GGA fix quality

OTA_STATES = (
    "queued",
    "offered",
    "downloading",
    "verifying",
    "installing",
    "rebooting",
    "confirming",
    "succeeded",
    "failed",
    "rolled-back",
)
REPLY_STATUSES = ("ok", "error", "unsupported", "expired")
PRESENCE_STATES = ("online", "offline")
