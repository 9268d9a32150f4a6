"""Random and mutated documents: the parsers answer with an OtaError or a result, never anything else."""

from __future__ import annotations

import contextlib
import json
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ota.device import ed25519
from ota.device.artifact import resume_offset
from ota.device.metadata import Release, TrustedRoot, verify_release
from ota.exceptions import OtaError
from ota.keys import verify
from tests.ota.conftest import HARDWARE, MODEL, NOW, Signers

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_fast = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def _world() -> tuple[Signers, bytes, bytes]:
    signers = Signers()
    return signers, signers.root_doc(), signers.release_doc()


def _check_release(doc: bytes, verify_fn=verify) -> None:
    _, root_doc, _ = _world()
    root = TrustedRoot.from_bytes(root_doc, verify_fn)
    try:
        release = verify_release(root, doc, now=NOW, installed_version=4, hardware=HARDWARE, model=MODEL)
    except OtaError:
        return
    assert isinstance(release, Release)


def _check_root(doc: bytes) -> None:
    _, root_doc, _ = _world()
    for attempt in (
        lambda: TrustedRoot.from_bytes(doc, verify),
        lambda: TrustedRoot.from_bytes(root_doc, verify).update(doc),
    ):
        with contextlib.suppress(OtaError):
            attempt()


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _replace(value, path, new):
    if not path:
        return new
    value[path[0]] = _replace(value[path[0]], path[1:], new)
    return value


@_fast
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    _check_release(data)
    _check_root(data)


@_fast
@given(st.data())
def test_byte_mutations_of_a_valid_document(data: st.DataObject) -> None:
    _, root_doc, release_doc = _world()
    for doc in (release_doc, root_doc):
        raw = bytearray(doc)
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(raw) - 1))
            action = data.draw(st.sampled_from(["set", "insert", "delete"]))
            if action == "set":
                raw[i] = data.draw(st.integers(0, 255))
            elif action == "insert":
                raw.insert(i, data.draw(st.integers(0, 255)))
            else:
                del raw[i]
        _check_release(bytes(raw))
        _check_root(bytes(raw))


@_fast
@given(st.data())
def test_structured_mutations_of_a_valid_document(data: st.DataObject) -> None:
    _, root_doc, release_doc = _world()
    for doc in (release_doc, root_doc):
        obj = json.loads(doc)
        path = data.draw(st.sampled_from(list(_paths(obj))))
        mutated = json.dumps(_replace(obj, path, data.draw(_json))).encode()
        _check_release(mutated)
        _check_root(mutated)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_mutated_signatures_under_the_pure_verifier(data: st.DataObject) -> None:
    _, _, release_doc = _world()
    obj = json.loads(release_doc)
    sig = bytearray(bytes.fromhex(obj["signatures"][0]["sig"]))
    sig[data.draw(st.integers(0, 63))] = data.draw(st.integers(0, 255))
    obj["signatures"][0]["sig"] = sig.hex()
    _check_release(json.dumps(obj).encode(), ed25519.verify)


@_fast
@given(st.binary(max_size=200) | _json.map(lambda v: json.dumps(v).encode()))
def test_resume_offset_never_raises(journal: bytes) -> None:
    _, _, release_doc = _world()
    release = Release.from_signed(json.loads(release_doc)["signed"])
    assert 0 <= resume_offset(release, journal) <= release.length
