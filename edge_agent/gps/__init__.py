"""Where the sensor is: fixes from gpsd or an NMEA serial stream, and the track that finds the fix
nearest in time to each sighting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from edge_agent.gps.fix import Fix, FixMode, Track

__all__ = ["Fix", "FixMode", "FixSource", "Track"]


class FixSource(Protocol):
    """An async producer of fixes (gpsd client, NMEA serial reader)."""

    name: str

    def fixes(self) -> AsyncIterator[Fix]:
        """Yield fixes until cancelled; a lost feed is retried inside, not raised."""
        ...
