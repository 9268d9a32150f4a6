"""Canonical JSON: the exact bytes that signatures cover (ota/SPEC.md, "Canonical JSON").

RFC 8785 (JCS) restricted to what our documents hold, so any JCS implementation produces the same
bytes: objects with ASCII keys sorted by code point, arrays, strings, integers with
|n| <= 2**53 - 1, true, false, null; no floats; no whitespace; UTF-8. Strings escape only what JSON
requires: \\" \\\\ \\b \\t \\n \\f \\r, other controls below U+0020 as \\u00xx (lower-case hex);
everything else, non-ASCII included, is written as its UTF-8 bytes. Lone surrogates are refused
(they have no UTF-8 form).

A signature is checked over the canonical form of the *parsed* ``signed`` value, never over the
bytes received: two JSON parsers that disagree on a document (duplicate keys, escapes) still
agree on what was signed, because each verifies what it understood.
"""

from ota.exceptions import MalformedDocument

MAX_SAFE_INTEGER = 2**53 - 1

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _plain(s):
    # True when no character needs escaping or refusing: the common case, appended whole
    # (one list entry per character would cost a MicroPython heap dearly).
    return not any(ch < " " or ch == '"' or ch == "\\" or "\ud800" <= ch <= "\udfff" for ch in s)


def _string(s, out):
    if _plain(s):
        out.append('"' + s + '"')
        return
    out.append('"')
    for ch in s:
        o = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif o < 0x20:
            out.append(f"\\u{o:04x}")
        elif 0xD800 <= o <= 0xDFFF:
            raise MalformedDocument(f"a string holds a lone surrogate (U+{o:04X})")
        else:
            out.append(ch)
    out.append('"')


def _value(v, out, depth):
    if depth > 32:
        raise MalformedDocument("nesting deeper than 32")
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, int):
        if not -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
            raise MalformedDocument(f"integer {v} is outside +-(2**53 - 1)")
        out.append(str(v))
    elif isinstance(v, str):
        _string(v, out)
    elif isinstance(v, list):
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            _value(item, out, depth + 1)
        out.append("]")
    elif isinstance(v, dict):
        for key in v:
            if not isinstance(key, str) or any(ord(c) > 0x7E or ord(c) < 0x20 for c in key):
                raise MalformedDocument(f"object key {key!r} is not printable ASCII")
        out.append("{")
        for i, key in enumerate(sorted(v)):
            if i:
                out.append(",")
            _string(key, out)
            out.append(":")
            _value(v[key], out, depth + 1)
        out.append("}")
    else:
        raise MalformedDocument(f"{type(v).__name__} values have no canonical form (floats are not allowed)")


def encode(value) -> bytes:
    """The canonical JSON bytes of ``value``; MalformedDocument for what has no canonical form."""
    out = []
    _value(value, out, 0)
    return "".join(out).encode()
