# Telemetry batches: observations gathered into a bounded batch, closed when
# full or old enough, sealed and stored in the outbox before any attempt to
# send them. Observation (protocol/SPEC.md, telemetry):
#   [dt_ms, kind "b", hid, rssi, flags, lat_e6|None, lon_e6|None]
#
# A batch keeps its rows as the JSON text they are sent as, written by json
# into the buffer the batch is sealed in, as they are observed: no tuple and
# no hid string per row stays in the heap (a row is 63 bytes of text at most
# against ~150 bytes of objects), and sealing allocates nothing the size of
# the batch. Layout of that buffer (SEAL_BYTES, allocated once at boot):
#   [0, _HEAD)                the envelope with an empty "obs", then its head
#                             (up to `"obs":[`), copied to end at _HEAD
#   [_HEAD, _HEAD + rows)     the rows, comma-separated
#   [.., + tail)              the envelope's tail (from `]`), copied there
# The sealed message is the one contiguous view of the three.
import json

from micropython import const

KIND_BLE = "b"
_HARD_MAX_OBS = const(32)
# The longest row with its comma is 64 bytes:
#   [86400000,"b","<16 hex>",-127,255,-90000000,-180000000],
# (dt is at most protocol.bodies.MAX_DT), so 32 rows take at most 2048.
# The envelope of a telemetry message without its rows is at most 285 bytes
# (the longest device id and boot, the largest numbers, one GPS fix:
# tests/firmware/mp/test_telemetry.py). Its head is copied from [0, i) to
# [_HEAD - i, _HEAD): the two never overlap since i <= 285 <= _HEAD / 2.
_HEAD = const(608)
SEAL_BYTES = const(2960)  # _HEAD + 32 rows + the longest tail (< 285), rounded up
# The largest sealed message, 2332 bytes (a full batch of the largest
# values): the uplink reads the outbox into a buffer of this size.
MAX_BYTES = const(2368)
_OBS = b'"obs":['


class Batch:
    def __init__(self, max_obs, buf):
        self.max_obs = min(max_obs, _HARD_MAX_OBS)
        # The codec is loaded with the node, after main.py took this module's
        # sizes and allocated the buffers.
        from protocol.codec import Into

        self.buf = buf
        self.out = Into(buf, len(buf))  # json writes the rows through it
        self.clear()

    def start(self, ts):
        # The batch's t0: the start of its first scan window.
        if self.t0 is None:
            self.t0 = ts

    def add(self, ts, kind, hid, rssi, flags, lat_e6, lon_e6):
        self.start(ts)
        if self.n:
            self.out.write(b",")
        json.dump(
            (max(0, ts - self.t0), kind, hid, rssi, flags, lat_e6, lon_e6), self.out, separators=(",", ":")
        )
        self.n += 1

    def full(self):
        return self.n >= self.max_obs

    def __len__(self):
        return self.n

    def seal(self, env, batch_no, gps=None):
        # -> memoryview of the sealed message in buf, valid until the next
        # row is added. The envelope is the codec's (env.seal), written with
        # an empty "obs"; the rows go between its head and its tail.
        body = {"batch": batch_no, "t0": self.t0, "obs": ()}
        if gps:
            body["gps"] = gps
        buf = self.buf
        mv = memoryview(buf)
        n = len(env.seal("telemetry", body, mv[:_HEAD])[1])
        i = buf.find(_OBS, 0, n) + len(_OBS)
        rows = self.out.n - _HEAD
        end = _HEAD + rows + n - i
        buf[_HEAD + rows : end] = mv[i:n]
        buf[_HEAD - i : _HEAD] = mv[:i]
        return mv[_HEAD - i : end]

    def clear(self):
        self.n = 0
        self.t0 = None
        self.out.n = _HEAD
