"""The map without tiles: last positions and recent routes projected onto a plain SVG, with a scale bar.

Equirectangular projection around the fleet's mean latitude (x scaled by cos(lat)): at city and
region scale it keeps distances within a fraction of a percent, which is all a fleet map needs.
Pure: tracks in, markup out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

from cloud.ui.charts import STATUS_COLOURS

EARTH_M = 6_371_000.0


@dataclass(frozen=True)
class Track:
    """One device's (or asset's) recent positions, oldest first: (time, lat, lon) in degrees."""

    name: str
    status: str
    points: Sequence[tuple[datetime, float, float]]


def _scale_length(metres_per_px: float, target_px: float = 120) -> float:
    raw = metres_per_px * target_px
    mag = 10 ** math.floor(math.log10(raw))
    return max(m * mag for m in (1, 2, 5) if m * mag <= raw)


def render(tracks: Sequence[Track], *, width: int = 960, height: int = 560, pad: float = 48) -> Markup:
    pts = [(lat, lon) for t in tracks for _, lat, lon in t.points]
    parts = [
        f'<svg class="map" viewBox="0 0 {width} {height}" role="img" aria-label="fleet map" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<rect width="{width}" height="{height}" fill="#f4f1ea"/>',
    ]
    if not pts:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="empty">'
            "no positions yet: they come from telemetry lat/lon</text></svg>"
        )
        return Markup("".join(parts))
    lat0 = sum(p[0] for p in pts) / len(pts)
    kx = math.cos(math.radians(lat0))
    xs = [lon * kx for _, lon in pts]
    ys = [lat for lat, _ in pts]
    min_x, max_x, min_y, max_y = min(xs), max(xs), min(ys), max(ys)
    span = max(max_x - min_x, (max_y - min_y), 0.002)  # at least ~200 m across
    scale = min((width - 2 * pad) / span, (height - 2 * pad) / span)
    cx, cy = (min_x + max_x) / 2, (min_y + max_y) / 2

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return width / 2 + (lon * kx - cx) * scale, height / 2 - (lat - cy) * scale

    # Graticule every "nice" step of degrees, so the map has a sense of place without tiles.
    deg_per_px = 1 / scale
    step = _scale_length(deg_per_px, 140)
    lat_lo, lat_hi = cy - height / 2 * deg_per_px, cy + height / 2 * deg_per_px
    lon_lo, lon_hi = (cx - width / 2 * deg_per_px) / kx, (cx + width / 2 * deg_per_px) / kx
    g = math.floor(lat_lo / step) * step
    while g <= lat_hi:
        _, y = xy(g, 0)
        parts.append(f'<line x1="0" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="4" y="{y - 3:.1f}" class="grid-label">{g:.4f}°</text>')
        g += step
    lon_step = _scale_length(deg_per_px / kx, 140)
    g = math.floor(lon_lo / lon_step) * lon_step
    while g <= lon_hi:
        x, _ = xy(0, g)
        parts.append(f'<line y1="0" y2="{height}" x1="{x:.1f}" x2="{x:.1f}" class="grid"/>')
        parts.append(f'<text x="{x + 3:.1f}" y="{height - 4}" class="grid-label">{g:.4f}°</text>')
        g += lon_step
    for t in tracks:
        colour = STATUS_COLOURS.get(t.status, STATUS_COLOURS["unknown"])
        if len(t.points) > 1:
            path = " ".join("{:.1f},{:.1f}".format(*xy(lat, lon)) for _, lat, lon in t.points)
            parts.append(f'<polyline class="route" points="{path}" stroke="{colour}"/>')
        at, lat, lon = t.points[-1]
        x, y = xy(lat, lon)
        name = escape(t.name)
        parts.append(
            f'<g class="pin" data-device="{name}"><circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="{colour}" '
            f'stroke="#fff" stroke-width="2"><title>{name}: {t.status}, last fix {at:%Y-%m-%d %H:%M} UTC '
            f"({lat:.5f}, {lon:.5f})</title></circle>"
            f'<text x="{x + 10:.1f}" y="{y + 4:.1f}" class="pin-label">{name}</text></g>'
        )
    # Scale bar, bottom right.
    metres_per_px = math.radians(deg_per_px) * EARTH_M
    length_m = _scale_length(metres_per_px)
    px = length_m / metres_per_px
    x0, y0 = width - pad - px, height - 24
    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    parts += [
        '<g class="scale">',
        f'<rect x="{x0 - 8:.1f}" y="{y0 - 20}" width="{px + 16:.1f}" height="30" rx="4" fill="#fff"/>',
        f'<line x1="{x0:.1f}" x2="{x0 + px:.1f}" y1="{y0}" y2="{y0}" stroke="#222" stroke-width="3"/>',
        f'<line x1="{x0 + px:.1f}" x2="{x0 + px:.1f}" y1="{y0 - 5}" y2="{y0 + 5}" class="tick-end"/>',
        f'<line x1="{x0:.1f}" x2="{x0:.1f}" y1="{y0 - 5}" y2="{y0 + 5}" class="tick-end"/>',
        f'<text x="{x0 + px / 2:.1f}" y="{y0 - 7}" text-anchor="middle" class="scale-label">{label}</text>',
        "</g>",
    ]
    parts.append("</svg>")
    return Markup("".join(parts))
