"""Distinct devices behind randomized addresses, within one sensor's view of one short window.

Randomized addresses cannot be linked by identity, and must not be linked across more than ~15
minutes. Within a window (the 15-minute grain of one asset) we estimate devices as the *minimum
number of phones consistent with the sightings* under two assumptions about rotation:

1. a phone uses one randomized address at a time, so an address can only hand over to one that
   first appears after it was last seen, within `handoff_ms` (default 2 min);
2. the phone does not jump in distance at the hand-over: the RSSI at the old address's last
   sighting and the new one's first differs by at most `rssi_delta` dB (default 8).

Minimum chain cover of the address spans under those rules: sweep spans by first sighting and
hand each to the chain that ended earliest among those it may continue (the exchange argument
that makes this optimal without the RSSI rule keeps it a sound greedy with it); otherwise open a
new chain. The count of chains is the estimate. It is a lower-bound style model: a crowd of phones
that re-randomize on every scan collapses onto few chains, so it undercounts dense crowds; a
phone that leaves and comes back within the window under a new address is counted once, like a
non-randomized one. Error measured on labelled data is in docs/metrics.md.

Across windows the rollup never links chains: longer periods are modelled (see rollup.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

HANDOFF_MS = 120_000
RSSI_DELTA = 8


class Span(NamedTuple):
    """One randomized address inside one window: first/last sighting and the RSSI at each."""

    first_ms: int
    last_ms: int
    rssi_first: int
    rssi_last: int


def estimate_devices(
    spans: Iterable[Span], *, handoff_ms: int = HANDOFF_MS, rssi_delta: int = RSSI_DELTA
) -> int:
    chains: list[tuple[int, int]] = []  # (last seen ms, rssi then) of each chain's newest address
    for sp in sorted(spans):
        best = -1
        for i, (end, rssi) in enumerate(chains):
            fits = end < sp.first_ms <= end + handoff_ms and abs(rssi - sp.rssi_first) <= rssi_delta
            if fits and (best < 0 or end < chains[best][0]):
                best = i
        if best < 0:
            chains.append((sp.last_ms, sp.rssi_last))
        else:
            chains[best] = (sp.last_ms, sp.rssi_last)
    return len(chains)
