# Telemetry batches: observations gathered into a bounded batch, closed when
# full or old enough, encoded and stored in the outbox before any attempt to
# send them. Observation (protocol/SPEC.md, telemetry):
#   [dt_ms, kind "b", hid, rssi, flags, lat_e6|None, lon_e6|None]
from micropython import const

KIND_BLE = "b"
_HARD_MAX_OBS = const(32)
# The bytes a batch can take once sealed: 32 rows of the largest values, one
# GPS fix and the longest envelope make 2340 (tests/firmware/mp/test_telemetry.py),
# so a batch bounded in rows is bounded in bytes. The node seals and sends
# messages from buffers of this size, allocated once at boot.
MAX_BYTES = const(2560)


class Batch:
    def __init__(self, max_obs):
        self.max_obs = min(max_obs, _HARD_MAX_OBS)
        self.obs = []
        self.t0 = None

    def start(self, ts):
        # The batch's t0: the start of its first scan window.
        if self.t0 is None:
            self.t0 = ts

    def add(self, ts, kind, hid, rssi, flags, lat_e6, lon_e6):
        self.start(ts)
        # A tuple: one allocation where a list takes two (the codec writes both as JSON arrays).
        self.obs.append((max(0, ts - self.t0), kind, hid, rssi, flags, lat_e6, lon_e6))

    def full(self):
        return len(self.obs) >= self.max_obs

    def __len__(self):
        return len(self.obs)

    def body(self, batch_no):
        return {"batch": batch_no, "t0": self.t0, "obs": self.obs}

    def clear(self):
        self.obs = []
        self.t0 = None
