"""Properties of decode() and encode() over generated input (hypothesis).

decode() of anything - random bytes, random JSON, valid vectors mutated - returns a Message or raises
ProtocolError, nothing else; generated valid messages survive encode/decode unchanged and satisfy the
JSON Schemas.
"""

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import codec
from protocol.errors import CODES, ProtocolError

INT31 = 2**31 - 1
INT53 = 2**53 - 1
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------------------------ syntaxes
LOWER_DIGITS = "abcdefghijklmnopqrstuvwxyz0123456789"
ALNUM = LOWER_DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def word(first, rest, max_size):
    return st.builds(lambda a, b: a + b, st.sampled_from(first), st.text(rest, max_size=max_size - 1))


device_ids = word(LOWER_DIGITS, LOWER_DIGITS + "-", 63).filter(lambda s: len(s) >= 3)
boot_ids = st.text("0123456789abcdef", min_size=8, max_size=32)
tokens = word(LOWER_DIGITS, LOWER_DIGITS + "_-", 32)
idents = word(ALNUM, ALNUM + "_.:-", 64)
versions = word(ALNUM, ALNUM + "_.+-", 32)
# Text without surrogates: the one string JSON can carry that UTF-8 cannot (SPEC.md section 9).
texts = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=200)
urls = st.builds(
    lambda scheme, rest: scheme + rest,
    st.sampled_from(["http://", "https://"]),
    st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=100),
)
hexes = st.text("0123456789abcdef", min_size=16, max_size=16)
lat = st.integers(-90_000_000, 90_000_000)
lon = st.integers(-180_000_000, 180_000_000)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_scalars = json_scalars | texts
free_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
settings_objects = st.dictionaries(tokens, free_values, max_size=8)


def body(required, optional=None):
    return st.fixed_dictionaries(required, optional=optional or {})


observations = st.tuples(
    st.integers(0, 86_400_000),
    st.sampled_from("wb"),
    hexes,
    st.integers(-127, 0),
    st.integers(0, 255),
    st.one_of(st.tuples(lat, lon), st.just((None, None))),
).map(lambda r: [r[0], r[1], r[2], r[3], r[4], r[5][0], r[5][1]])
fixes = st.tuples(st.integers(0, 86_400_000), lat, lon, st.integers(0, 100_000), st.integers(0, 8)).map(list)

BODIES = {
    "hello": body(
        {
            "hw": tokens,
            "fw": versions,
            "heartbeat_s": st.integers(1, 86400),
            "caps": st.lists(tokens, max_size=32),
        },
        {
            "versions": st.dictionaries(tokens, versions, max_size=16),
            "reset": tokens,
            "config_version": st.integers(0, INT31),
        },
    ),
    "heartbeat": body(
        {"uptime_s": st.integers(0, INT31), "interval_s": st.integers(1, 86400)},
        {
            "rssi": st.integers(-127, 0),
            "free_mem": st.integers(0, INT53),
            "free_disk": st.integers(0, INT53),
            "outbox": st.integers(0, INT31),
            "dropped": st.integers(0, INT31),
            "temp_dc": st.integers(-1000, 2000),
            "gps_fix": st.integers(0, 8),
            "reset": tokens,
            "fw": versions,
            "config_version": st.integers(0, INT31),
        },
    ),
    "telemetry": body(
        {
            "batch": st.integers(0, INT31),
            "t0": st.integers(0, INT53),
            "obs": st.lists(observations, max_size=50),
        },
        {"gps": st.lists(fixes, max_size=20), "key": tokens},
    ),
    "config_desired": body({"version": st.integers(0, INT31), "config": settings_objects}),
    "config_reported": body(
        {"version": st.integers(0, INT31)},
        {"config": settings_objects, "error": st.fixed_dictionaries({"code": tokens, "reason": texts})},
    ),
    "ota_offer": body(
        {
            "job": idents,
            "version": versions,
            "url": urls,
            "sha256": st.text("0123456789abcdef", min_size=64, max_size=64),
            "length": st.integers(1, INT31),
            "metadata": urls,
        }
    ),
    "ota_status": st.one_of(
        body(
            {"job": idents, "state": st.sampled_from(["queued", "offered", "downloading", "succeeded"])},
            {"version": versions, "progress": st.integers(0, 100), "reason": texts},
        ),
        body({"job": idents, "state": st.sampled_from(["failed", "rolled-back"]), "reason": texts}),
    ),
    "cmd": body(
        {"id": idents, "name": tokens},
        {"args": st.dictionaries(texts, free_values, max_size=4), "expires": st.integers(0, INT53)},
    ),
    "cmd_reply": st.one_of(
        body({"id": idents, "status": st.sampled_from(["ok", "unsupported", "expired"])}, {"reason": texts}),
        body({"id": idents, "status": st.just("error"), "reason": texts}),
    ),
    "status": body({"state": st.sampled_from(["online", "offline"])}, {"reason": tokens}),
    "error": body(
        {"code": tokens, "reason": texts},
        {
            "field": st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=64),
            "ref": st.fixed_dictionaries(
                {}, optional={"topic": texts, "seq": st.integers(0, INT31), "boot": boot_ids}
            ),
        },
    ),
}


@st.composite
def messages(draw):
    msg_type = draw(st.sampled_from(sorted(BODIES)))
    return codec.Message(
        draw(st.builds(lambda minor: f"1.{minor}", st.integers(0, 9999))),
        msg_type,
        draw(device_ids),
        draw(boot_ids),
        draw(st.integers(0, INT31)),
        draw(st.integers(0, INT53)),
        draw(BODIES[msg_type]),
    )


def outcome(payload, topic=None):
    """What decode() did: the Message, or the ProtocolError's code. Anything else propagates and fails."""
    try:
        return codec.decode(payload, topic)
    except ProtocolError as err:
        error = err
    assert error.code in CODES
    assert isinstance(error.reason, str)
    assert error.reason
    return error.code


# ------------------------------------------------------------------------------------------------ properties
@SETTINGS
@given(messages())
def test_generated_messages_round_trip(msg):
    data = codec.encode(msg)
    assert len(data) <= codec.MAX_PAYLOAD
    back = codec.decode(data, msg.topic())
    assert back == msg
    assert codec.encode(back) == data


@SETTINGS
@given(messages())
def test_generated_messages_satisfy_the_schemas(message_schema, msg):
    assert not [e.message for e in message_schema.iter_errors(json.loads(codec.encode(msg)))]


@SETTINGS
@given(
    st.binary(max_size=2048),
    st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["mob/v1/bb-0042/hello"])),
)
def test_random_bytes_are_a_message_or_a_protocol_error(payload, topic):
    outcome(payload, topic)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@SETTINGS
@given(json_values)
def test_random_json_is_a_message_or_a_protocol_error(value):
    outcome(json.dumps(value).encode())


envelope_values = st.fixed_dictionaries(
    {},
    optional={
        "v": st.sampled_from(["1.0", "1.3", "2.0", "1", ""]) | json_values,
        "type": st.sampled_from(sorted(BODIES)) | json_values,
        "device": st.sampled_from(["bb-0042", "x"]) | json_values,
        "boot": st.sampled_from(["5f2a9c01"]) | json_values,
        "seq": st.integers(-5, 2**32) | json_values,
        "ts": st.integers(-5, 2**54) | json_values,
        "body": st.dictionaries(st.text(max_size=12), json_values, max_size=6) | json_values,
    },
)


@SETTINGS
@given(envelope_values)
def test_envelope_shaped_json_is_a_message_or_a_protocol_error(value):
    outcome(json.dumps(value).encode())
    outcome(json.dumps(value).encode(), "mob/v1/bb-0042/heartbeat")


# ------------------------------------------------------------------------------------------------ mutations
def paths(value, prefix=()):
    """Every path (tuple of keys and indexes) into a JSON value, the root excluded."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, child in items:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def parent_of(value, path):
    for key in path[:-1]:
        value = value[key]
    return value


REPLACEMENTS = [None, True, 0, -1, 1.5, "", "x" * 300, [], {}, 2**31, 2**53, "1.0", "w", "0123456789ABCDEF"]


@pytest.fixture(scope="module")
def valid_payloads(vectors, payload_of):
    return [(payload_of(c), c["topic"]) for c in vectors["valid"]]


@SETTINGS
@given(data=st.data())
def test_mutated_vectors_are_a_message_or_a_protocol_error(valid_payloads, data):
    payload, topic = data.draw(st.sampled_from(valid_payloads))
    how = data.draw(st.sampled_from(["drop", "retype", "flip", "truncate"]))
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    if how in ("flip", "truncate"):
        mutated = bytearray(payload)
        if how == "flip":
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
        else:
            del mutated[rng.randrange(len(mutated)) :]
        outcome(bytes(mutated), topic)
        return
    value = json.loads(payload)
    path = rng.choice(list(paths(value)))
    parent = parent_of(value, path)
    if how == "drop":
        del parent[path[-1]]
    else:
        parent[path[-1]] = rng.choice(REPLACEMENTS)
    outcome(json.dumps(value).encode(), topic)
