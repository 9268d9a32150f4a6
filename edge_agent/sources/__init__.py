"""Where sightings come from. Every source is an async producer behind one small interface.

A ``SightingSource`` is an object with a ``name`` and an async ``sightings()`` iterator; the agent runs
each in its own named task and stops it by cancellation. Positions come from ``edge_agent.gps``
through the matching ``FixSource`` interface there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from edge_agent.sighting import Sighting


class SightingSource(Protocol):
    """An async producer of sightings (pcap replay, monitor interface, BLE scanner, simulation)."""

    name: str

    def sightings(self) -> AsyncIterator[Sighting]:
        """Yield sightings until the source ends (a file) or is cancelled (a radio)."""
        ...
