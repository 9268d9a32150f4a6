"""The test vectors under CPython: every valid case decodes to its expectation and survives a round trip,
every invalid case fails with exactly its error code. Plus the properties of the vector files that other
implementations (and the MicroPython runner) rely on."""

import json
from pathlib import Path

import pytest

from protocol import codec, topics
from protocol.errors import CODES, ProtocolError

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors"
FIELDS = ("v", "type", "device", "boot", "seq", "ts", "body")


def fields(msg):
    return {name: getattr(msg, name) for name in FIELDS}


def test_valid_case_decodes_to_expectation(valid_case, payload_of):
    msg = codec.decode(payload_of(valid_case), valid_case["topic"])
    assert fields(msg) == valid_case["expect"]


def test_valid_case_round_trips(valid_case, payload_of):
    msg = codec.decode(payload_of(valid_case), valid_case["topic"])
    data = codec.encode(msg)
    assert codec.decode(data, msg.topic()) == msg
    assert codec.encode(codec.decode(data)) == data  # encoding is a fixed point after one pass


def test_invalid_case_fails_with_its_code(invalid_case, payload_of):
    with pytest.raises(ProtocolError) as info:
        codec.decode(payload_of(invalid_case), invalid_case["topic"])
    assert info.value.code == invalid_case["error"], info.value.reason
    assert info.value.reason


def test_every_message_type_has_a_valid_case(vectors):
    assert {c["expect"]["type"] for c in vectors["valid"]} == set(codec.TYPES)


def test_every_error_code_has_an_invalid_case(vectors):
    assert {c["error"] for c in vectors["invalid"]} == set(CODES)


def test_case_names_are_unique(vectors):
    names = [c["name"] for cases in vectors.values() for c in cases]
    assert len(names) == len(set(names))


def test_vector_files_hold_one_case_per_line(vectors):
    # The MicroPython runner streams the files line by line to fit a small heap.
    for kind in ("valid", "invalid"):
        lines = (VECTORS / f"{kind}.json").read_text("utf-8").splitlines()
        assert lines[0] == "["
        assert lines[-1] == "]"
        body = lines[1:-1]
        assert all(line.endswith(",") for line in body[:-1])
        assert len(body) == len(vectors[kind])
        for line in body:
            json.loads(line.removesuffix(","))


def test_valid_cases_travel_on_their_own_topic(vectors):
    for case in vectors["valid"]:
        expect = case["expect"]
        assert case["topic"] == topics.topic(expect["device"], topics.TYPE_CHANNEL[expect["type"]])
