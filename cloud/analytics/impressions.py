"""Impressions of one device on one (campaign, asset, zone), by the campaign's rule.

Each rule maps a device's `Track` to the list of moments at which it earned an impression; the
rollup files each at the 15-minute grain of that moment.

- DEDUP_WINDOW: one per dedup window (tumbling windows aligned to the UTC epoch, default 15 min)
  in which the device had an exposure sighting; the impression is at the window's first sighting.
- STATIC_OTS (Geopath, static media): one per exposure session; a longer dwell adds nothing. The
  impression is at the session's first sighting.
- DIGITAL_SPOTS (Geopath, digital screens): one per (session, spot) where the spot overlaps the
  device's presence for at least `min_spot_ms`. A session's presence is [first, last + 1 s): a
  single sighting stands for at least one second of presence. The impression is at
  max(session start, spot start).
"""

from __future__ import annotations

import bisect

from cloud.analytics.campaigns import Campaign, ImpressionRule
from cloud.analytics.sessions import Track

PRESENCE_TAIL_MS = 1000


def impression_times(track: Track, campaign: Campaign, asset_id: str) -> list[int]:
    rule = campaign.rule
    if rule is ImpressionRule.DEDUP_WINDOW:
        return list(track.windows.values())
    if rule is ImpressionRule.STATIC_OTS:
        return list(track.starts)
    spots = campaign.spots_by_asset.get(asset_id, ())
    if not spots:
        return []
    spot_starts = [s for s, _ in spots]
    out: list[int] = []
    need = campaign.min_spot_ms
    longest = campaign.longest_spot_ms[asset_id]
    for start, end in zip(track.starts, track.ends, strict=True):
        present_end = end + PRESENCE_TAIL_MS
        # spots starting before the presence ends; spots are sorted and short, scan back from there
        j = bisect.bisect_left(spot_starts, present_end)
        for s, e in reversed(spots[:j]):
            if min(e, present_end) - max(s, start) >= need:
                out.append(max(s, start))
            if s + longest < start:  # no spot starting earlier can still be running
                break
    return out
