"""encode(), make(), error_body() and the Message type: what the vectors alone do not show."""

import json
import time

import pytest

from protocol import codec
from protocol.error_reply import error_body
from protocol.errors import ProtocolError

BOOT = "5f2a9c01"
TS = 1767225600000
TOPIC = "mob/v1/bb-0042/telemetry"


def row(i):
    return [i * 10, "wb"[i % 2], f"{i:016x}", -40 - i % 80, i % 8, 52520000 + i, 13400000 - i]


def telemetry(n=3, **body):
    return codec.make(
        "telemetry", "bb-0042", BOOT, 7, TS, {"batch": 1, "t0": TS, "obs": [row(i) for i in range(n)], **body}
    )


def code_of(call, *args):
    with pytest.raises(ProtocolError) as info:
        call(*args)
    return info.value


def test_make_writes_this_codecs_version():
    msg = codec.make("status", "bb-0042", BOOT, 0, TS, {"state": "online"})
    assert (msg.v, msg.type, msg.device, msg.boot, msg.seq, msg.ts) == (
        "1.0",
        "status",
        "bb-0042",
        BOOT,
        0,
        TS,
    )
    assert msg.topic() == "mob/v1/bb-0042/status"


def test_encode_writes_compact_utf8_json():
    msg = codec.make(
        "cmd_reply", "bb-0042", BOOT, 3, TS, {"id": "c-1", "status": "error", "reason": "Zähler 🚌"}
    )
    data = codec.encode(msg)
    assert b" " not in data.replace("Zähler 🚌".encode(), b"")
    assert "Zähler 🚌".encode() in data  # UTF-8, not \u escapes (MicroPython mangles surrogate pairs)
    assert json.loads(data)["body"]["reason"] == "Zähler 🚌"
    assert list(json.loads(data)) == ["v", "type", "device", "boot", "seq", "ts", "body"]


def test_encode_validates_and_names_the_field():
    msg = telemetry()
    msg.body["obs"][2][3] = 5
    err = code_of(codec.encode, msg)
    assert (err.code, err.field) == ("bad_field", "body.obs[2].rssi")
    assert "-127" in err.reason


def test_encode_without_check_skips_only_the_body_check():
    # What a device does for its own uplink: the receiver's decode validates the body anyway.
    msg = telemetry()
    msg.body["obs"][2][3] = 5
    data = codec.encode(msg, check=False)
    assert code_of(codec.decode, data, TOPIC).field == "body.obs[2].rssi"
    assert codec.encode(telemetry(), check=False) == codec.encode(telemetry())
    msg.boot = "not-hex"
    assert code_of(codec.encode, msg, False).field == "boot"  # the envelope is always checked
    assert code_of(codec.encode, telemetry(codec.MAX_OBS * 30), False).code == "too_large"


def test_body_checks_are_split_by_direction():
    from protocol import bodies, downlink, topics, uplink

    assert set(downlink.CHECKS) == {topics.CHANNEL_TYPE[c] for c in topics.DOWNLINK}
    assert set(uplink.CHECKS) == {topics.CHANNEL_TYPE[c] for c in topics.UPLINK}
    assert set(downlink.CHECKS) | set(uplink.CHECKS) == set(codec.TYPES)
    assert codec.MAX_OBS == bodies.MAX_OBS


def test_encode_refuses_an_unsupported_version_and_non_messages():
    msg = telemetry()
    msg.v = "2.0"
    assert code_of(codec.encode, msg).code == "unsupported_version"
    assert code_of(codec.encode, {"v": "1.0"}).code == "bad_field"


def test_encode_refuses_values_json_cannot_carry():
    assert code_of(codec.encode, telemetry(extra={1, 2})).code == "bad_field"
    assert code_of(codec.encode, telemetry(extra=float("nan"))).code == "bad_field"
    assert code_of(codec.encode, telemetry(extra="\ud800")).code == "bad_field"
    cmd = codec.make("cmd", "bb-0042", BOOT, 1, TS, {"id": "c-1", "name": "set", "args": {"x": b"raw"}})
    assert code_of(codec.encode, cmd).field == "body.args"


def test_encode_accepts_tuple_rows_and_decode_gives_lists():
    # Tuples cost an ESP32 less heap than lists; the wire form is the same.
    msg = telemetry()
    msg.body["obs"] = [tuple(r) for r in msg.body["obs"]]
    back = codec.decode(codec.encode(msg), TOPIC)
    assert back.body["obs"] == [row(i) for i in range(3)]


def test_encode_into_writes_the_bytes_encode_returns():
    # The vectors check the same on MicroPython (mp_vectors.py), where encode_into streams into buf.
    msg = telemetry(40, gps=[[0, 1, 2, 3, 1]])
    msg.body["obs"] = [tuple(r) for r in msg.body["obs"]]
    data = codec.encode(msg)
    buf = bytearray(len(data) + 9)
    n = codec.encode_into(msg, buf)
    assert (n, bytes(buf[:n])) == (len(data), data)
    assert codec.encode_into(msg, bytearray(len(data))) == len(data)
    assert code_of(codec.encode_into, msg, bytearray(len(data) - 1)).code == "too_large"
    assert code_of(codec.encode_into, telemetry(extra={1, 2}), buf).code == "bad_field"
    assert code_of(codec.encode_into, telemetry(codec.MAX_OBS + 1), bytearray(65536)).code == "too_large"
    big = codec.make(
        "config_desired", "bb-0042", BOOT, 1, TS, {"version": 1, "config": {"blob": "x" * 17000}}
    )
    assert code_of(codec.encode_into, big, bytearray(20000)).code == "too_large"  # the downlink limit


def test_size_limits_on_encode():
    assert len(codec.encode(telemetry(500, gps=[[i, 1, 2, 3, 1] for i in range(500)]))) <= codec.MAX_PAYLOAD
    assert code_of(codec.encode, telemetry(codec.MAX_OBS + 1)).code == "too_large"
    big = codec.make(
        "config_desired", "bb-0042", BOOT, 1, TS, {"version": 1, "config": {"blob": "x" * 17000}}
    )
    assert code_of(codec.encode, big).code == "too_large"  # downlink: an ESP32 must be able to parse it
    uplink = codec.make(
        "config_reported", "bb-0042", BOOT, 1, TS, {"version": 1, "config": {"blob": "x" * 17000}}
    )
    assert codec.decode(codec.encode(uplink)) == uplink


def test_decode_takes_any_bytes_like_payload():
    data = codec.encode(telemetry())
    for payload in (data, bytearray(data), memoryview(data), data.decode()):
        assert codec.decode(payload, TOPIC) == telemetry()
    assert code_of(codec.decode, None).code == "malformed_json"
    assert code_of(codec.decode, 12).code == "malformed_json"


def test_decode_without_topic_skips_only_the_topic_checks():
    data = codec.encode(telemetry())
    assert codec.decode(data).device == "bb-0042"
    assert code_of(codec.decode, data, "mob/v1/bb-0043/telemetry").code == "topic_mismatch"


def test_unknown_body_keys_are_kept_and_unknown_envelope_keys_dropped():
    value = json.loads(codec.encode(telemetry()))
    value["v"] = "1.4"
    value["route"] = "A12"
    value["body"]["battery_mv"] = 3712
    msg = codec.decode(json.dumps(value).encode(), TOPIC)
    assert msg.body["battery_mv"] == 3712
    assert "route" not in json.loads(codec.encode(msg))
    assert json.loads(codec.encode(msg))["v"] == "1.4"


def test_message_equality_and_repr():
    a, b = telemetry(), telemetry()
    assert a == b
    assert a.__ne__(b) is False
    b.seq = 8
    assert a != b
    assert a != "telemetry"
    assert repr(a).startswith("Message(v='1.0', type='telemetry', device='bb-0042'")


def test_protocol_error_carries_code_reason_and_field():
    err = code_of(codec.decode, b'{"v":"1.0","type":"status","device":"bb-0042","boot":"5f2a9c01","seq":-1}')
    assert (err.code, err.field) == ("bad_field", "seq")
    assert str(err) == err.reason
    assert "2147483647" in err.reason


def test_error_body_is_a_valid_error_message():
    err = code_of(codec.decode, b"x" * (codec.MAX_PAYLOAD + 1), TOPIC)
    body = error_body(err, topic=TOPIC, seq=16)
    assert body == {"code": "too_large", "reason": err.reason, "ref": {"topic": TOPIC, "seq": 16}}
    reply = codec.make("error", "bb-0042", "c10dc10d", 1, TS, body)
    assert codec.decode(codec.encode(reply), "mob/v1/bb-0042/error").body == body


def test_error_body_keeps_within_the_error_limits():
    err = ProtocolError("bad_field", "r" * 500, "f" * 100)
    body = error_body(err, topic="t" * 400, seq=2**40)
    assert (len(body["reason"]), len(body["field"]), len(body["ref"]["topic"])) == (200, 64, 256)
    assert "seq" not in body["ref"]
    codec.encode(codec.make("error", "bb-0042", "c10dc10d", 1, TS, body))
    assert "ref" not in error_body(ProtocolError("bad_topic", "topic must ..."))


def test_decoding_a_200_observation_batch_takes_well_under_a_millisecond():
    # The cloud's budget: ~100k observations/s on one core. Best of many runs, to ignore a busy machine.
    data = codec.encode(telemetry(200))
    best = float("inf")
    for _ in range(30):
        start = time.perf_counter()
        for _ in range(10):
            codec.decode(data, TOPIC)
        best = min(best, (time.perf_counter() - start) / 10)
    assert best < 0.001, f"{best * 1e6:.0f} µs per batch"


def test_urls_take_printable_ascii_only():
    def offer(url):
        body = {
            "job": "j-1",
            "version": "0.2.0",
            "url": url,
            "sha256": "a" * 64,
            "length": 1,
            "metadata": url,
        }
        return codec.make("ota_offer", "bb-0042", BOOT, 0, TS, body)

    assert codec.encode(offer("https://fw/" + "".join(map(chr, range(33, 127)))))
    for c in (" ", "\x7f", "\t", "é"):
        assert code_of(codec.encode, offer("https://fw/a" + c)).field == "body.url"
