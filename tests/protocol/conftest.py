"""Fixtures of the protocol tests: the vector files (and tests parametrised by case), the payload bytes of
a case (SPEC.md section 10), and a validator for the JSON Schemas. Test modules reach these through
fixtures only: importing ``conftest`` would be ambiguous beside other components' conftest files."""

import binascii
import json
from pathlib import Path

import pytest

PROTOCOL = Path(__file__).resolve().parents[2] / "protocol"
VECTORS = PROTOCOL / "vectors"
SCHEMAS = PROTOCOL / "schemas"


def load_cases(kind):
    return json.loads((VECTORS / f"{kind}.json").read_text("utf-8"))


def payload_bytes(case):
    """The exact bytes a case's payload stands for."""
    data = binascii.unhexlify(case["payload_hex"]) if "payload_hex" in case else case["payload"].encode()
    return data.ljust(case.get("pad_to", 0), b" ")


def pytest_generate_tests(metafunc):
    for kind in ("valid", "invalid"):
        name = f"{kind}_case"
        if name in metafunc.fixturenames:
            cases = load_cases(kind)
            metafunc.parametrize(name, cases, ids=[c["name"] for c in cases])


@pytest.fixture(scope="session")
def vectors():
    """Both vector files: {"valid": [case, ...], "invalid": [...]}."""
    return {kind: load_cases(kind) for kind in ("valid", "invalid")}


@pytest.fixture(scope="session")
def payload_of():
    return payload_bytes


@pytest.fixture(scope="session")
def message_schema():
    """A validator for whole messages (schemas/envelope.json, bodies by reference). Its integers are JSON
    integers only: JSON Schema's own "integer" admits 5.0, which the spec and the codec reject."""
    jsonschema = pytest.importorskip("jsonschema", reason="needs jsonschema (the dev extra)")
    referencing = pytest.importorskip("referencing")
    schemas = [json.loads(p.read_text("utf-8")) for p in sorted(SCHEMAS.glob("*.json"))]
    registry = referencing.Registry().with_resources(
        [(s["$id"], referencing.Resource.from_contents(s)) for s in schemas]
    )
    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine("integer", lambda _checker, x: type(x) is int)
    strict = jsonschema.validators.extend(base, type_checker=checker)
    envelope = next(s for s in schemas if s["$id"].endswith(":envelope"))
    return strict(envelope, registry=registry)
