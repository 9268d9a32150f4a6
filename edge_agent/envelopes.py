"""Protocol v1 messages from this device in this boot: one boot id, one sequence counter.

The boot id is drawn fresh at every start (16 hex chars); ``seq`` counts every message of the boot,
whatever its channel. Telemetry is numbered when its batch is stored, not when it is sent, so a batch
resent after a reconnect or a restart carries exactly the bytes of its first attempt.
"""

from __future__ import annotations

import itertools
import secrets
import time

from protocol import codec


class Envelopes:
    """Encodes message bodies into protocol v1 envelopes for ``device_id``. ``next(self._seq)`` is
    atomic under the GIL, so the outbox thread may number telemetry while the loop numbers the rest."""

    def __init__(self, device_id: str, boot: str | None = None) -> None:
        self.device_id = device_id
        self.boot = boot or secrets.token_hex(8)
        self._seq = itertools.count()

    def encode(self, type_: str, body: dict, ts_ms: int | None = None) -> bytes:
        """The encoded message; raises protocol.errors.ProtocolError if the body breaks the spec."""
        ts = time.time_ns() // 1_000_000 if ts_ms is None else ts_ms
        return codec.encode(codec.make(type_, self.device_id, self.boot, next(self._seq), ts, body))
