"""The body of the "error" message the cloud answers a rejected message with (SPEC.md, "Errors").

Only the cloud sends it, so it lives apart from the codec every device loads.
"""

from protocol.errors import ProtocolError
from protocol.fields import INT31, TEXT


def error_body(err: ProtocolError, topic: str | None = None, seq: int | None = None) -> dict:
    """``topic`` and ``seq`` are the offending message's, when known (a seq outside the protocol's
    range is left out)."""
    body = {"code": err.code, "reason": err.reason[: TEXT[4]]}
    if err.field is not None:
        body["field"] = err.field[:64]
    ref = {}
    if topic is not None:
        ref["topic"] = topic[:256]
    if type(seq) is int and 0 <= seq <= INT31:
        ref["seq"] = seq
    if ref:
        body["ref"] = ref
    return body
