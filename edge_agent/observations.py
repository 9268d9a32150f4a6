"""From sightings to the observations protocol v1 carries: hashed id, RSSI, flags, position.

This is the privacy boundary: ``Observer.observe`` is the last place a raw address exists; what it
returns holds only the keyed hash. Sightings under the RSSI floor (too far away to count, and most of
the noise) are dropped here too, before they cost any storage.

Positions are attached when a batch is closed (``Batch.rows``), not when the sighting arrives: by
then the fix after the sighting has usually come in too, so the nearest fix in time can be chosen
rather than only the latest one before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.gps import Track
from edge_agent.privacy import Keyring
from edge_agent.sighting import Kind, Sighting
from protocol.bodies import FLAG_DIRECTED, FLAG_INFRA, FLAG_RANDOMIZED, MAX_DT


@dataclass(frozen=True, slots=True)
class Observation:
    """A hashed device id heard at ``ts_ms`` with ``rssi`` dBm; ``flags`` as protocol v1 defines
    them (randomised address, directed probe, infrastructure address)."""

    ts_ms: int
    kind: Kind
    hid: str
    rssi: int
    flags: int


class Observer:
    """Applies the privacy rule and the RSSI floor; both can change at run time (cloud config).

    ``infra`` holds raw addresses of known fixed gear (the lab's desktops, the vehicle's own router):
    they are still observed, flagged FLAG_INFRA, so the cloud can leave them out of audience counts
    while the sensor itself never has to ship the list."""

    def __init__(self, keyring: Keyring, rssi_floor: int, infra: frozenset[bytes] = frozenset()) -> None:
        self.keyring = keyring
        self.rssi_floor = rssi_floor
        self.infra = infra
        self.below_floor = 0
        self.without_rssi = 0

    def observe(self, sighting: Sighting) -> Observation | None:
        """The observation for a sighting, or None if it is dropped (counted by reason)."""
        if sighting.rssi is None:
            self.without_rssi += 1
            return None
        if sighting.rssi < self.rssi_floor:
            self.below_floor += 1
            return None
        flags = (
            (FLAG_RANDOMIZED if sighting.randomized else 0)
            | (FLAG_DIRECTED if sighting.directed else 0)
            | (FLAG_INFRA if sighting.address in self.infra else 0)
        )
        return Observation(
            ts_ms=sighting.ts_ms,
            kind=sighting.kind,
            hid=self.keyring.hid(sighting.address, sighting.ts_ms),
            rssi=sighting.rssi,
            flags=flags,
        )


class Batch:
    """Observations collected for one telemetry message, in arrival order. A message spans at most
    protocol v1's MAX_DT (a day) of observation time: ``accepts`` says whether one more fits (a
    replayed old capture beside a live radio would otherwise make an invalid message)."""

    def __init__(self) -> None:
        self.observations: list[Observation] = []
        self.opened_at: float | None = None  # event-loop time of the first observation
        self._first = self._last = 0

    def __len__(self) -> int:
        return len(self.observations)

    def accepts(self, obs: Observation) -> bool:
        if not self.observations:
            return True
        return max(self._last, obs.ts_ms) - min(self._first, obs.ts_ms) <= MAX_DT

    def add(self, obs: Observation, now: float) -> None:
        """Add ``obs`` (the caller has checked ``accepts``); ``now`` is the loop time."""
        if not self.observations:
            self.opened_at = now
            self._first = self._last = obs.ts_ms
        else:
            self._first = min(self._first, obs.ts_ms)
            self._last = max(self._last, obs.ts_ms)
        self.observations.append(obs)

    def body(self, track: Track, max_fix_gap_ms: int) -> dict:
        """The telemetry body without its batch number (the outbox assigns it):
        ``{"t0": ms, "obs": [[dt_ms, kind, hid, rssi, flags, lat_e6, lon_e6], ...]}``."""
        t0 = self._first
        rows = []
        for o in self.observations:
            fix = track.nearest(o.ts_ms, max_fix_gap_ms)
            lat, lon = (fix.lat_e6, fix.lon_e6) if fix is not None else (None, None)
            rows.append([o.ts_ms - t0, o.kind.value, o.hid, o.rssi, o.flags, lat, lon])
        return {"t0": t0, "obs": rows}
