# A batch keeps its rows as JSON text in the buffer it is sealed in (runs under MicroPython).
import json

import telemetry
from envelope import Envelopes

from protocol import codec

_DEVICE = "a" * 63
_T0 = 9007199254740991 - 86400000
_ROW = (86400000, telemetry.KIND_BLE, "f" * 16, -127, 255, -90000000, -180000000)
_FIX = ((86400000, -90000000, -180000000, 100000, 8),)


def _full(buf):
    b = telemetry.Batch(1000, buf)  # capped at the hard maximum
    b.start(_T0)
    while not b.full():
        b.add(_T0 + _ROW[0], *_ROW[1:])
    return b


def test_full_batch_of_largest_values_seals_to_what_the_codec_encodes():
    env = Envelopes(_DEVICE, "f" * 32, lambda: 9007199254740991)
    env.seq = 2147483646
    buf = bytearray(telemetry.SEAL_BYTES)
    b = _full(buf)
    assert len(b) == 32
    m = b.seal(env, 2147483647, _FIX)
    assert env.seq == 2147483647
    body = {"batch": 2147483647, "t0": _T0, "obs": [_ROW] * 32, "gps": _FIX}
    data = codec.encode(codec.make("telemetry", _DEVICE, "f" * 32, env.seq, 9007199254740991, body), False)
    # What codec.encode writes for the same message, up to the order of the keys (hash order here);
    # the uplink checks are not loaded here (compiled from source they do not fit in this heap).
    assert len(m) == len(data)
    assert json.loads(m) == json.loads(data)
    assert len(data) <= telemetry.MAX_BYTES  # what the uplink reads the outbox into


def test_rows_start_again_after_clear_and_missing_values_are_null():
    env = Envelopes("esp-1", "0badcafe", lambda: 1700000000000)
    b = telemetry.Batch(2, bytearray(telemetry.SEAL_BYTES))
    b.start(1700000000000)
    b.add(1700000000500, telemetry.KIND_BLE, "00112233aabbccdd", -60, 1, None, None)
    b.seal(env, 0)
    b.clear()
    assert len(b) == 0 and not b.full()
    b.add(1700000001000, telemetry.KIND_BLE, "0123456789abcdef", -70, 0, 48117300, 11516667)
    b.add(1700000001250, telemetry.KIND_BLE, "00112233aabbccdd", -61, 1, None, None)
    assert b.full()
    msg = json.loads(b.seal(env, 1))
    assert (msg["type"], msg["seq"]) == ("telemetry", 1)
    assert msg["body"] == {
        "batch": 1,
        "t0": 1700000001000,
        "obs": [
            [0, "b", "0123456789abcdef", -70, 0, 48117300, 11516667],
            [250, "b", "00112233aabbccdd", -61, 1, None, None],
        ],
    }
