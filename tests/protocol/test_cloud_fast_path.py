"""The cloud's fast telemetry path (cloud/bridge/telemetry.py) against the codec, its judge.

Here beside the vectors because it is held to them: whatever the fast path accepts, the codec accepts
with the same batch; every invalid vector, and every corrupted payload the codec refuses, the fast
path leaves to the codec (None), so the dead letter carries the codec's reason.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import astuple

from cloud.bridge.inbox import sort
from cloud.bridge.telemetry import decode_batch
from cloud.core.types import utcnow
from protocol import codec
from protocol.errors import ProtocolError

TOPIC = "mob/v1/bb-0042/telemetry"
AGENT_BODY = {  # the shape the edge agent sends (edge_agent/observations.py): key, obs and gps
    "batch": 7,
    "t0": 1_767_225_540_000,
    "key": "k20260101",
    "obs": [
        [0, "w", "3f9a0c2b7d1e4a55", -61, 1, 52_520_008, 13_404_954],
        [250, "b", "00ff00ff00ff00ff", -127, 255, None, None],
        [86_400_000, "w", "0123456789abcdef", 0, 0, -90_000_000, 180_000_000],
    ],
    "gps": [[0, 52_520_008, 13_404_954, 120, 1]],
}


def _payload(body: object, **envelope: object) -> bytes:
    msg = {"v": "1.0", "type": "telemetry", "device": "bb-0042", "boot": "5f2a9c01d3e4b607", "seq": 17}
    msg |= {"ts": 1_767_225_600_000, "body": body} | envelope
    return json.dumps(msg, separators=(",", ":")).encode()


def _codec_batch(topic: str, payload: bytes) -> tuple[object, ...] | None:
    """What the codec makes of a payload: the batch's fields, or None when it refuses it."""
    try:
        msg = codec.decode(payload, topic)
    except ProtocolError:
        return None
    if msg.type != "telemetry":
        return None
    b = msg.body
    return (msg.device, msg.boot, b["batch"], msg.seq, b["t0"], [list(r[:7]) for r in b["obs"]])


def _fast_batch(topic: str, payload: bytes) -> tuple[object, ...] | None:
    b = decode_batch(topic, payload)
    if b is None:
        return None
    return (b.device_id, b.boot, b.batch, b.seq, b.t0_ms, [list(astuple(r)) for r in b.obs])


def _agrees(topic: str, payload: bytes) -> None:
    fast = _fast_batch(topic, payload)
    if fast is not None:
        assert fast == _codec_batch(topic, payload)


def test_the_agents_and_the_benchmarks_batches_take_the_fast_path() -> None:
    payload = _payload(AGENT_BODY)
    assert _fast_batch(TOPIC, payload) == _codec_batch(TOPIC, payload)
    assert _fast_batch(TOPIC, payload) is not None
    bare = _payload({"batch": 0, "t0": 0, "obs": []})
    assert _fast_batch(TOPIC, bare) == ("bb-0042", "5f2a9c01d3e4b607", 0, 17, 0, [])


def test_valid_vectors_agree_with_the_codec(valid_case, payload_of) -> None:  # type: ignore[no-untyped-def]
    _agrees(valid_case["topic"], payload_of(valid_case))


def test_invalid_vectors_are_left_to_the_codec(invalid_case, payload_of) -> None:  # type: ignore[no-untyped-def]
    assert decode_batch(invalid_case["topic"], payload_of(invalid_case)) is None


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("obs", 0, 2), "3F9A0C2B7D1E4A55"),  # uppercase hex
        (("obs", 0, 2), "3f9a0c2b7d1e4a5"),  # 15 characters
        (("obs", 0, 2), "3f9a0c2b7d1e4a5\n"),
        (("obs", 0, 5), None),  # lat null, lon not
        (("obs", 1, 6), 5),  # lon set, lat null
        (("obs", 0, 3), True),  # a bool is no integer
        (("obs", 0, 0), 1.0),
        (("obs", 0, 0), 86_400_001),
        (("obs", 0, 1), "x"),
        (("obs", 0), [0, "w", "3f9a0c2b7d1e4a55", -61, 1, 1, 1, "eighth"]),  # the codec takes this one
        (("gps", 0, 4), 9),
        (("gps",), None),
        (("key",), "Not-A-Token"),
        (("batch",), 2_147_483_648),
        (("t0",), -1),
        (("extra",), 1),  # a newer minor's field: the codec takes it, the fast path leaves it
    ],
)
def test_a_bad_or_unusual_field_goes_the_codecs_way(where: tuple[object, ...], value: object) -> None:
    body = json.loads(json.dumps(AGENT_BODY))
    target = body
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = value
    payload = _payload(body)
    assert decode_batch(TOPIC, payload) is None
    if where == ("obs", 0) or where == ("extra",):
        assert _codec_batch(TOPIC, payload) is not None  # still stored, by the codec


@pytest.mark.parametrize(
    ("topic", "envelope"),
    [
        ("mob/v1/bb-0043/telemetry", {}),  # the topic names another device
        ("mob/v1/bb-0042/heartbeat", {}),
        ("mob/v2/bb-0042/telemetry", {}),
        (TOPIC, {"v": "2.0"}),
        (TOPIC, {"v": "01.0"}),  # major 1 to the codec, left to it
        (TOPIC, {"boot": "5F2A9C01"}),
        (TOPIC, {"seq": -1}),
        (TOPIC, {"device": "BB-0042"}),
        (TOPIC, {"type": "heartbeat"}),
    ],
)
def test_a_bad_envelope_or_topic_goes_the_codecs_way(topic: str, envelope: dict[str, object]) -> None:
    assert decode_batch(topic, _payload(AGENT_BODY, **envelope)) is None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_corrupted_payloads_never_pass_where_the_codec_would_not(data: st.DataObject) -> None:
    payload = bytearray(_payload(AGENT_BODY))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(payload) - 1))
        op = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = data.draw(st.sampled_from(b'0123456789-+.eE"\\,:[]{}ntfu \xff\xc3\xa9abf'))
        if op == "replace":
            payload[i] = byte
        elif op == "insert":
            payload.insert(i, byte)
        else:
            del payload[i]
    _agrees(TOPIC, bytes(payload))


def test_a_flush_stores_fast_and_codec_batches_and_dead_letters_the_rest() -> None:
    unusual = json.loads(json.dumps(AGENT_BODY)) | {"batch": 8, "extra": {"from": "a newer minor"}}
    broken = json.loads(json.dumps(AGENT_BODY)) | {"batch": 9}
    broken["obs"][1][2] = "not hex at all!"
    flush = sort(
        [(TOPIC, _payload(AGENT_BODY)), (TOPIC, _payload(unusual)), (TOPIC, _payload(broken))],
        now=utcnow(),
    )
    assert [b.batch for b in flush.batches] == [7, 8]
    assert [list(astuple(r)) for r in flush.batches[0].obs] == AGENT_BODY["obs"]
    (dead,) = flush.dead
    assert (dead.reason, dead.detail) == ("bad_field", "body.obs[1].hid must be 16 lowercase hex characters")
    (reply,) = flush.replies
    assert reply.topic == "mob/v1/bb-0042/error"
