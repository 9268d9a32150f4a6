"""Exposure: is a sighting close enough (RSSI) and, for zoned campaigns, inside a zone?

Zones are GeoJSON Polygon or MultiPolygon geometries (a Feature wrapping one is accepted), in
[longitude, latitude] order as GeoJSON says. Point-in-polygon is the even-odd ray cast in the
plane of degrees, exact enough for city-sized polygons; holes are honoured. Coordinates are kept
in micro-degrees (ints) like observations, so the test is free of float drift at the edges.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloud.analytics.exceptions import ZoneError

Ring = tuple[tuple[int, int], ...]  # ((lon_e6, lat_e6), ...), closed or not
Polygon = tuple[Ring, ...]  # outer ring then holes


@dataclass(frozen=True, slots=True)
class Zone:
    id: str
    polygons: tuple[Polygon, ...]
    bbox: tuple[int, int, int, int]  # min_lon, min_lat, max_lon, max_lat (e6)

    def contains(self, lat_e6: int, lon_e6: int) -> bool:
        min_lon, min_lat, max_lon, max_lat = self.bbox
        if not (min_lon <= lon_e6 <= max_lon and min_lat <= lat_e6 <= max_lat):
            return False
        return any(_in_polygon(p, lon_e6, lat_e6) for p in self.polygons)


def _in_ring(ring: Ring, x: int, y: int) -> bool:
    inside = False
    n = len(ring)
    j = n - 1
    for i in range(n):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > y) != (yj > y):
            # x-coordinate where the edge crosses the horizontal line at y, compared without division
            lhs = (x - xi) * (yj - yi)
            rhs = (xj - xi) * (y - yi)
            if (lhs < rhs) if yj > yi else (lhs > rhs):
                inside = not inside
        j = i
    return inside


def _in_polygon(polygon: Polygon, x: int, y: int) -> bool:
    if not _in_ring(polygon[0], x, y):
        return False
    return not any(_in_ring(hole, x, y) for hole in polygon[1:])


def _ring(zone_id: str, path: str, raw: Any) -> Ring:
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise ZoneError(zone_id=zone_id, path=path, reason="a linear ring must be an array of positions")
    pts: list[tuple[int, int]] = []
    for i, pos in enumerate(raw):
        p = f"{path}[{i}]"
        if not isinstance(pos, Sequence) or isinstance(pos, str | bytes) or len(pos) < 2:
            raise ZoneError(zone_id=zone_id, path=p, reason="a position must be [longitude, latitude]")
        lon, lat = pos[0], pos[1]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lon, lat)):
            raise ZoneError(zone_id=zone_id, path=p, reason="coordinates must be numbers")
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ZoneError(zone_id=zone_id, path=p, reason=f"[{lon}, {lat}] is outside lon/lat range")
        pts.append((round(lon * 1_000_000), round(lat * 1_000_000)))
    if len(pts) >= 2 and pts[0] == pts[-1]:
        pts.pop()
    if len(set(pts)) < 3:
        raise ZoneError(zone_id=zone_id, path=path, reason="a ring needs at least 3 distinct positions")
    return tuple(pts)


def _polygon(zone_id: str, path: str, raw: Any) -> Polygon:
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes) or not raw:
        raise ZoneError(zone_id=zone_id, path=path, reason="a polygon must be a non-empty array of rings")
    return tuple(_ring(zone_id, f"{path}[{i}]", r) for i, r in enumerate(raw))


def parse_zone(zone_id: str, geojson: str | Mapping[str, Any]) -> Zone:
    """A Zone from GeoJSON text or a decoded object: Polygon, MultiPolygon or a Feature of one."""
    obj: Any = geojson
    if isinstance(geojson, str | bytes):
        try:
            obj = json.loads(geojson)
        except ValueError as e:
            raise ZoneError(zone_id=zone_id, path="$", reason=f"not JSON: {e}") from e
    path = "$"
    if not isinstance(obj, Mapping):
        raise ZoneError(zone_id=zone_id, path=path, reason="expected a GeoJSON object")
    if obj.get("type") == "Feature":
        obj, path = obj.get("geometry"), "$.geometry"
        if not isinstance(obj, Mapping):
            raise ZoneError(zone_id=zone_id, path=path, reason="a Feature needs a geometry object")
    kind = obj.get("type")
    coords = obj.get("coordinates")
    cpath = f"{path}.coordinates"
    if kind == "Polygon":
        polygons = (_polygon(zone_id, cpath, coords),)
    elif kind == "MultiPolygon":
        if not isinstance(coords, Sequence) or isinstance(coords, str | bytes) or not coords:
            raise ZoneError(zone_id=zone_id, path=cpath, reason="a MultiPolygon needs an array of polygons")
        polygons = tuple(_polygon(zone_id, f"{cpath}[{i}]", p) for i, p in enumerate(coords))
    else:
        raise ZoneError(
            zone_id=zone_id, path=f"{path}.type", reason=f"expected Polygon or MultiPolygon, got {kind!r}"
        )
    xs = [x for poly in polygons for x, _ in poly[0]]
    ys = [y for poly in polygons for _, y in poly[0]]
    return Zone(id=zone_id, polygons=polygons, bbox=(min(xs), min(ys), max(xs), max(ys)))


def zone_to_geojson(zone: Zone) -> dict[str, Any]:
    """GeoJSON out: a MultiPolygon with closed rings, degrees."""

    def ring(r: Ring) -> list[list[float]]:
        pts = [[x / 1_000_000, y / 1_000_000] for x, y in r]
        return [*pts, pts[0]]

    return {"type": "MultiPolygon", "coordinates": [[ring(r) for r in poly] for poly in zone.polygons]}


def zone_of(zones: Sequence[Zone], lat_e6: int | None, lon_e6: int | None) -> str | None:
    """The id of the first zone (in the campaign's order) holding the point, or None.

    Overlapping zones: the first listed wins, so that campaign totals (a sum over zones) never
    count a sighting twice.
    """
    if lat_e6 is None or lon_e6 is None:
        return None
    for z in zones:
        if z.contains(lat_e6, lon_e6):
            return z.id
    return None
