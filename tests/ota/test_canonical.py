"""Canonical JSON is RFC 8785 (JCS) on our subset: checked against json.dumps, which agrees there."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ota.device import canonical
from ota.exceptions import MalformedDocument

_keys = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8)
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)  # no lone surrogates
_ints = st.integers(-canonical.MAX_SAFE_INTEGER, canonical.MAX_SAFE_INTEGER)
values = st.recursive(
    st.none() | st.booleans() | _ints | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)


@given(values)
def test_same_bytes_as_sorted_compact_json(value) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert canonical.encode(value) == expected


@given(values)
def test_round_trips(value) -> None:
    assert json.loads(canonical.encode(value)) == value


def test_escapes_only_what_json_requires() -> None:
    assert canonical.encode('"\\\b\t\n\f\r\x01\x1f\x7fé€😀') == (
        '"\\"\\\\\\b\\t\\n\\f\\r\\u0001\\u001f\x7fé€😀"'.encode()
    )
    assert canonical.encode({"b": [1, {"a": None}], "a": True}) == b'{"a":true,"b":[1,{"a":null}]}'


@pytest.mark.parametrize(
    "value",
    [1.5, float("nan"), 2**53, -(2**53), {"é": 1}, {1: 2}, "\ud800", b"bytes", (1, 2)],
    ids=["float", "nan", "big", "-big", "non-ascii key", "int key", "surrogate", "bytes", "tuple"],
)
def test_values_without_a_canonical_form(value) -> None:
    with pytest.raises(MalformedDocument):
        canonical.encode(value)


def test_nesting_is_bounded() -> None:
    deep: list = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(MalformedDocument, match="nesting"):
        canonical.encode(deep)
