# A full batch of the largest values fits the buffer the node seals telemetry into (runs under MicroPython).
import telemetry
from envelope import Envelopes

from protocol import codec


def _full():
    b = telemetry.Batch(1000)  # capped at the hard maximum
    t0 = 9007199254740991 - 86400000
    while not b.full():
        b.add(t0 + 86400000, telemetry.KIND_BLE, "f" * 16, -127, 255, -90000000, -180000000)
    b.t0 = t0
    body = b.body(2147483647)
    body["gps"] = ((86400000, -90000000, -180000000, 100000, 8),)
    return body


def test_full_batch_of_largest_values_fits_max_bytes():
    env = Envelopes("a" * 63, "f" * 32, lambda: 9007199254740991)
    env.seq = 2147483646
    buf = bytearray(telemetry.MAX_BYTES)
    seq, m = env.seal("telemetry", _full(), buf)
    assert seq == 2147483647
    env.seq = seq - 1
    data = env.seal("telemetry", _full())[1]
    assert bytes(m) == data  # the same bytes as codec.encode
    assert len(data) <= telemetry.MAX_BYTES
    back = codec.decode(m, "mob/v1/" + "a" * 63 + "/telemetry")
    assert len(back.body["obs"]) == 32
