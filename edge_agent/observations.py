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
from edge_agent.gps.fix import gps_fix_quality
from edge_agent.privacy import Keyring
from edge_agent.sighting import Kind, Sighting
from protocol.bodies import FLAG_DIRECTED, FLAG_INFRA, FLAG_RANDOMIZED, MAX_DT, MAX_GPS, MAX_SPEED


@dataclass(frozen=True, slots=True)
class Observation:
    """A hashed device id heard at ``ts_ms`` with ``rssi`` dBm; ``flags`` as protocol v1 defines
    them (randomised address, directed probe, infrastructure address)."""

    ts_ms: int
    kind: Kind
    hid: str
    rssi: int
    flags: int
    key: str  # the period key's id (Keyring.key_id)


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
        ring = self.keyring
        hid = ring.hid(sighting.address, sighting.ts_ms)
        return Observation(sighting.ts_ms, sighting.kind, hid, sighting.rssi, flags, ring.key_id)


class Batch:
    """Observations collected for one telemetry message, in arrival order. A message spans at most
    protocol v1's MAX_DT (a day) of observation time, and names one hashing key: ``accepts`` says
    whether one more fits (a batch open across a key rotation, or a replayed old capture beside a live
    radio, is closed and a new one started)."""

    def __init__(self) -> None:
        self.observations: list[Observation] = []
        self.opened_at: float | None = None  # event-loop time of the first observation
        self._first = self._last = 0

    def __len__(self) -> int:
        return len(self.observations)

    def accepts(self, obs: Observation) -> bool:
        if not self.observations:
            return True
        if obs.key != self.observations[0].key:
            return False
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
        """The telemetry body without its batch number (the outbox assigns it), SPEC §5.3:
        ``{"t0", "key", "obs": [[dt_ms, kind, hid, rssi, flags, lat_e6, lon_e6], ...], "gps": [...]}``
        with ``gps`` the sensor's track during the batch (at most MAX_GPS rows, evenly thinned)."""
        t0 = self._first
        rows = []
        for o in self.observations:
            fix = track.nearest(o.ts_ms, max_fix_gap_ms)
            lat, lon = (fix.lat_e6, fix.lon_e6) if fix is not None else (None, None)
            rows.append([o.ts_ms - t0, o.kind.value, o.hid, o.rssi, o.flags, lat, lon])
        body: dict = {"t0": t0, "key": self.observations[0].key, "obs": rows}
        fixes = track.between(t0, self._last)
        if fixes:
            step = -(-len(fixes) // MAX_GPS)
            body["gps"] = [
                [f.ts_ms - t0, f.lat_e6, f.lon_e6, min(MAX_SPEED, round((f.speed_mps or 0) * 100)),
                 gps_fix_quality(f)]
                for f in fixes[::step]
            ]  # fmt: skip
        return body
