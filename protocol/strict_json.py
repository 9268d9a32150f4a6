"""JSON on CPython as SPEC.md ("Parsing") wants it: the codec's parse and dumps there. MicroPython's are
inline in codec.py; this module is apart so that a device never loads it.

CPython's json is stricter than MicroPython's on input and has to be told to write UTF-8 and to refuse
NaN; these two functions are where that is done.
"""

import json

from protocol.errors import MALFORMED_JSON, TOO_LARGE, ProtocolError


def _reject_constant(name):
    raise ValueError(name + " is not JSON")


def parse(payload):
    """The JSON value of ``payload`` (bytes-like); ProtocolError when it is not UTF-8 JSON."""
    # Decoding to str first: json.loads(bytes) would also accept UTF-16 and UTF-32.
    try:
        return json.loads(str(payload, "utf-8"), parse_constant=_reject_constant)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity, over-long integers
        raise ProtocolError(MALFORMED_JSON, "payload is not UTF-8 JSON")  # noqa: B904 (see errors)
    except RecursionError:
        raise ProtocolError(TOO_LARGE, "payload nests too deep to parse")  # noqa: B904
    except MemoryError:
        raise ProtocolError(TOO_LARGE, "payload does not fit in memory once parsed")  # noqa: B904


def dumps(obj):
    """Compact JSON text of ``obj``; ValueError on NaN and infinities, TypeError on non-JSON values."""
    # UTF-8, not \u escapes: MicroPython decodes a surrogate-pair escape into two broken characters.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
