"""The JSON Schemas agree with the codec on every vector: a schema is documentation only if it is true."""

import json
from pathlib import Path

import pytest

from protocol import codec

jsonschema = pytest.importorskip("jsonschema", reason="needs jsonschema (the dev extra)")

SCHEMAS = Path(__file__).resolve().parents[2] / "protocol" / "schemas"
# Codes for payloads that are not JSON in the first place: no schema can judge them.
UNPARSEABLE = ("empty_payload", "malformed_json", "too_large")
NOT_JSON = object()


def parse(data):
    """The payload's JSON value as the spec reads it (strict UTF-8 JSON), or NOT_JSON."""
    try:
        return json.loads(data.decode("utf-8"), parse_constant=lambda name: 1 / 0)
    except (ValueError, ZeroDivisionError, RecursionError):
        return NOT_JSON


def test_every_schema_is_a_valid_draft_2020_12_schema():
    for path in SCHEMAS.glob("*.json"):
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text("utf-8")))


def test_there_is_one_body_schema_per_message_type():
    names = {p.stem for p in SCHEMAS.glob("*.json")} - {"envelope", "defs"}
    assert names == set(codec.TYPES)
    envelope = json.loads((SCHEMAS / "envelope.json").read_text("utf-8"))
    assert set(envelope["properties"]["type"]["enum"]) == set(codec.TYPES)


def test_valid_case_satisfies_the_schemas(valid_case, payload_of, message_schema):
    errors = [e.message for e in message_schema.iter_errors(parse(payload_of(valid_case)))]
    assert not errors


def test_invalid_case_is_judged_alike_by_the_schemas(invalid_case, payload_of, message_schema):
    value = parse(payload_of(invalid_case))
    if value is NOT_JSON:
        assert invalid_case["error"] in UNPARSEABLE
        return
    # Cases marked schema_valid fail on the topic or the byte size, which schemas cannot see.
    assert message_schema.is_valid(value) == invalid_case.get("schema_valid", False)
