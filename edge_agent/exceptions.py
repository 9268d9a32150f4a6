"""Errors the edge agent raises, one shallow tree.

    AgentError
    ├── CaptureError          a capture file or frame that cannot be read
    │   ├── CaptureFormatError    the file is not pcap/pcapng, or a block is truncated
    │   └── FrameError            a radiotap/802.11 frame that is malformed or not a probe request
    ├── GpsError              a position source that cannot be read (bad sentence, gpsd gone)
    ├── ConfigError           agent.toml / environment / cloud desired config that is invalid
    ├── OutboxError           the store-and-forward database cannot be used
    └── UplinkError           the MQTT link failed; carries the broker and the cause

Foreign errors (sqlite3, aiomqtt, pynmea2, bleak) are translated at the one module that uses the
library, with ``raise ... from e``, so callers only ever see these.
"""

from __future__ import annotations


class AgentError(Exception):
    """Root of every error the edge agent raises on purpose."""


class CaptureError(AgentError):
    """A capture source could not be read."""


class CaptureFormatError(CaptureError):
    """A capture file is not pcap/pcapng or is cut short; ``offset`` is where reading stopped."""

    def __init__(self, reason: str, *, path: str | None = None, offset: int | None = None) -> None:
        self.reason = reason
        self.path = path
        self.offset = offset
        where = f"{path or '<stream>'}@{offset}" if offset is not None else (path or "<stream>")
        super().__init__(f"{where}: {reason}")


class FrameError(CaptureError):
    """A single frame is malformed or is not what the parser handles; ``layer`` says which."""

    def __init__(self, layer: str, reason: str) -> None:
        self.layer = layer
        self.reason = reason
        super().__init__(f"{layer}: {reason}")


class GpsError(AgentError):
    """A GPS sentence or gpsd report could not be used; ``source`` names the feed."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class ConfigError(AgentError):
    """A configuration value is invalid; ``field`` is its dotted path (``mqtt.port``)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class OutboxError(AgentError):
    """The outbox database cannot be opened or written; ``path`` is the database file."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class UplinkError(AgentError):
    """The MQTT connection failed or dropped; ``host``/``port`` name the broker."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        self.host = host
        self.port = port
        self.reason = reason
        super().__init__(f"{host}:{port}: {reason}")
