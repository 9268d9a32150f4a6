"""Export artifacts as bytes: pure functions of their rows, deterministic (same rows, same bytes,
same checksums), so a re-run writes the same objects under the same keys.

    Artifact = files [(name, bytes, content type, rows)] + the manifest describing them
    Withheld = nothing to export, and why

Mogean (retargeting, schema `mogean-segment/1`): one CSV column `mobilytics_id`, sorted, of the
campaign segment's *non-randomized* hashed ids, re-keyed per campaign:
`HMAC-SHA256(HMAC-SHA256(secret, "mogean-campaign:" + campaign_id), hid)[:32 hex]`. The same
phone gets unrelated ids in two campaigns, so a partner cannot join segments across campaigns.
Fewer than `min_ids` (100, MISSION §5) ids: withheld, never a smaller file.

Spotzi (demographics, schema `spotzi-zone-hour/1`): impressions and distinct devices per zone and
UTC hour, as CSV and as a GeoJSON FeatureCollection (one Feature per zone, its hours in
`properties.hours`). k-anonymity: a cell (zone, hour) standing for fewer than k devices is left
out whole and counted in the manifest's `suppressed_cells`.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MOGEAN_SCHEMA = "mogean-segment/1"
SPOTZI_SCHEMA = "spotzi-zone-hour/1"


@dataclass(frozen=True, slots=True)
class File:
    name: str  # suffix of the object key: "segment.csv", "zones.geojson"
    body: bytes
    content_type: str
    rows: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True, slots=True)
class Artifact:
    files: tuple[File, ...]
    schema_version: str
    extra: Mapping[str, Any] = field(default_factory=dict)  # partner-specific manifest fields

    @property
    def row_count(self) -> int:
        return sum(f.rows for f in self.files if f.content_type == "text/csv")

    def manifest(self, *, keys: Mapping[str, str], header: Mapping[str, str]) -> bytes:
        """The manifest, written last: its presence means the export is whole."""
        doc = {
            "schema_version": self.schema_version,
            **header,
            "row_count": self.row_count,
            "files": [
                {
                    "key": keys[f.name],
                    "sha256": f.sha256,
                    "bytes": len(f.body),
                    "rows": f.rows,
                    "content_type": f.content_type,
                }
                for f in self.files
            ],
            **self.extra,
        }
        return json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"


@dataclass(frozen=True, slots=True)
class Withheld:
    reason: str


# ---- Mogean ------------------------------------------------------------------------------------


def campaign_key(secret: bytes, campaign_id: str) -> bytes:
    return hmac.new(secret, b"mogean-campaign:" + campaign_id.encode(), hashlib.sha256).digest()


def rekey(key: bytes, hid: str) -> str:
    return hmac.new(key, hid.encode(), hashlib.sha256).hexdigest()[:32]


def mogean_segment(
    *, secret: bytes, campaign_id: str, segment: str, ids: Iterable[tuple[str, bool]], min_ids: int = 100
) -> Artifact | Withheld:
    """`ids`: (hid, randomized) of the segment's exposed devices; randomized ones never leave."""
    if not secret:
        return Withheld("no Mogean secret configured: ids cannot be re-keyed per campaign")
    key = campaign_key(secret, campaign_id)
    out = sorted({rekey(key, hid) for hid, randomized in ids if not randomized})
    if len(out) < min_ids:
        return Withheld(f"segment {segment!r} has {len(out)} non-randomized ids, fewer than {min_ids}")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["mobilytics_id"])
    w.writerows([i] for i in out)
    return Artifact(
        files=(File("segment.csv", buf.getvalue().encode(), "text/csv", len(out)),),
        schema_version=MOGEAN_SCHEMA,
        extra={"id_scheme": "hmac-sha256-per-campaign/128"},
    )


# ---- Spotzi ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ZoneHour:
    zone_id: str  # "" for impressions outside any zone (campaigns without zones)
    hour_ms: int  # start of the UTC hour, epoch ms
    impressions: int
    devices: int  # distinct devices behind the cell


def _hour(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:00:00Z")


def spotzi_zone_hours(
    *, rows: Iterable[ZoneHour], zones: Mapping[str, Mapping[str, Any] | None], k: int = 5
) -> Artifact | Withheld:
    """`zones`: zone id -> GeoJSON geometry (None when the zone has no shape)."""
    cells = sorted(rows, key=lambda r: (r.zone_id, r.hour_ms))
    kept = [r for r in cells if r.devices >= k]
    suppressed = len(cells) - len(kept)
    if not kept:
        return Withheld(f"no cell reaches k={k} devices ({suppressed} suppressed)")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["zone_id", "hour_utc", "impressions", "devices"])
    for r in kept:
        w.writerow([r.zone_id, _hour(r.hour_ms), r.impressions, r.devices])
    features = []
    for zone_id in sorted({r.zone_id for r in kept}):
        hours = [
            {"hour_utc": _hour(r.hour_ms), "impressions": r.impressions, "devices": r.devices}
            for r in kept
            if r.zone_id == zone_id
        ]
        geometry = zones.get(zone_id)
        if geometry is not None and geometry.get("type") == "Feature":
            geometry = geometry.get("geometry")
        features.append(
            {
                "type": "Feature",
                "id": zone_id,
                "geometry": geometry,
                "properties": {"zone_id": zone_id, "hours": hours},
            }
        )
    geojson = json.dumps({"type": "FeatureCollection", "features": features}, sort_keys=True).encode()
    return Artifact(
        files=(
            File("zone_hours.csv", buf.getvalue().encode(), "text/csv", len(kept)),
            File("zones.geojson", geojson, "application/geo+json", len(features)),
        ),
        schema_version=SPOTZI_SCHEMA,
        extra={"k": k, "suppressed_cells": suppressed},
    )
