"""Who is not audience: the vehicle's own crew and fixed infrastructure.

Infrastructure is a list of hashed ids (routers, kiosks, the sensor's own gateway) dropped at
absorb time. Crew is found from presence: a *shift* of an asset is a maximal run of 15-minute
grains with sightings, where consecutive active grains are at most `shift_gap_ms` apart (1 hour
by default); a shift shorter than `min_shift_grains` (8 = 2 hours) names no crew. A device present
in more than `fraction` (80%) of a shift's active grains is crew for that shift and is left out of
every metric of that asset during it. Crew is decided at query time from the presence state, so a
late batch that completes someone's shift excludes them retroactively.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cloud.analytics.grains import HOUR_MS, QUARTER_MS

SHIFT_GAP_MS = HOUR_MS
MIN_SHIFT_GRAINS = 8


def shifts(active_quarters: Iterable[int], *, shift_gap_ms: int = SHIFT_GAP_MS) -> list[list[int]]:
    """Active 15-minute grains grouped into shifts, each sorted."""
    out: list[list[int]] = []
    for q in sorted(active_quarters):
        if out and q - out[-1][-1] <= shift_gap_ms:
            out[-1].append(q)
        else:
            out.append([q])
    return out


def crew_by_quarter(
    active_quarters: Iterable[int],
    presence: Mapping[str, Iterable[int]],
    *,
    fraction: float,
    shift_gap_ms: int = SHIFT_GAP_MS,
    min_shift_grains: int = MIN_SHIFT_GRAINS,
) -> dict[int, frozenset[str]]:
    """For each grain of the asset that lies in a shift with crew: the crew's hids."""
    runs = shifts(active_quarters, shift_gap_ms=shift_gap_ms)
    shift_of: dict[int, int] = {q: i for i, run in enumerate(runs) for q in run}
    counts: list[dict[str, int]] = [{} for _ in runs]
    for hid, quarters in presence.items():
        for q in quarters:
            i = shift_of.get(q)
            if i is not None:
                c = counts[i]
                c[hid] = c.get(hid, 0) + 1
    out: dict[int, frozenset[str]] = {}
    for run, c in zip(runs, counts, strict=True):
        if len(run) < min_shift_grains:
            continue
        crew = frozenset(h for h, n in c.items() if n > fraction * len(run))
        if crew:
            # a shift covers every grain from its first to its last active one
            for q in range(run[0], run[-1] + QUARTER_MS, QUARTER_MS):
                out[q] = crew
    return out
