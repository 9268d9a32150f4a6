"""Charts as inline SVG, drawn on the server from plain numbers: no chart library, no CDN, no JS.

Every function is pure (data in, markup out) so tests can check what a chart says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from markupsafe import Markup, escape

# The same colours as the CSS badges (static/ui.css): one meaning per colour across the UI.
STATUS_COLOURS = {
    "online": "#1a9e5b",
    "stale": "#e0a100",
    "offline": "#d64545",
    "sleeping": "#6b7cc4",
    "unknown": "#9aa3ad",
}


def _x(t: datetime, since: datetime, until: datetime, left: float, width: float) -> float:
    span = (until - since).total_seconds() or 1.0
    return left + width * min(1.0, max(0.0, (t - since).total_seconds() / span))


def _time_ticks(since: datetime, until: datetime, n: int = 6) -> list[datetime]:
    span = (until - since).total_seconds()
    steps = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400]
    step = next((s for s in steps if span / s <= n), steps[-1])
    first = math.ceil(since.timestamp() / step) * step
    return [
        datetime.fromtimestamp(t, since.tzinfo) for t in range(int(first), int(until.timestamp()) + 1, step)
    ]


def status_timeline(
    initial: str | None,
    changes: Sequence[tuple[datetime, str, str]],
    *,
    since: datetime,
    until: datetime,
    width: int = 900,
) -> Markup:
    """A band coloured by presence over [since, until].

    `changes` are (at, to_status, reason), oldest first; `initial` is the status before `since`.
    """
    left, band_w, top, h = 4.0, width - 8.0, 6.0, 26.0
    parts = [
        f'<svg class="chart timeline" viewBox="0 0 {width} 58" role="img" '
        f'aria-label="status timeline" xmlns="http://www.w3.org/2000/svg">',
        f'<rect x="{left}" y="{top}" width="{band_w}" height="{h}" rx="4" fill="#eef1f4"/>',
    ]
    segments: list[tuple[datetime, datetime, str, str]] = []
    status, start, reason = initial, since, ""
    for at, to_status, why in changes:
        if status is not None and at > start:
            segments.append((start, at, status, reason))
        status, start, reason = to_status, max(at, since), why
    if status is not None:
        segments.append((start, until, status, reason))
    for a, b, st, why in segments:
        x0, x1 = _x(a, since, until, left, band_w), _x(b, since, until, left, band_w)
        colour = STATUS_COLOURS.get(st, STATUS_COLOURS["unknown"])
        title = escape(f"{st} from {a:%H:%M:%S} to {b:%H:%M:%S} UTC ({why or 'before window'})")
        parts.append(
            f'<rect class="seg seg-{escape(st)}" x="{x0:.1f}" y="{top}" width="{max(1.0, x1 - x0):.1f}" '
            f'height="{h}" fill="{colour}"><title>{title}</title></rect>'
        )
    for t in _time_ticks(since, until):
        x = _x(t, since, until, left, band_w)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + h}" y2="{top + h + 5}" stroke="#8a949e"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{top + h + 18}" text-anchor="middle" class="tick">{t:%H:%M}</text>'
        )
    if not segments:
        parts.append(
            f'<text x="{width / 2}" y="{top + 18}" text-anchor="middle" class="empty">'
            "no presence evidence yet</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(v))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= v)


def time_series(
    points: Sequence[tuple[datetime, float]],
    *,
    since: datetime,
    until: datetime,
    label: str,
    unit: str,
    kind: str = "line",
    colour: str = "#2f6fb3",
    limit: float | None = None,
    limit_label: str = "",
    width: int = 440,
    height: int = 150,
) -> Markup:
    """A small line or bar chart of (time, value) with a y axis, time ticks and an optional limit line."""
    left, right, top, bottom = 44.0, 8.0, 22.0, 22.0
    pw, ph = width - left - right, height - top - bottom
    values = [v for _, v in points] + [limit or 0.0, 0.0]
    # The axis starts at 0, or lower for negative values (RSSI, cold temperatures).
    ymin = -_nice_max(-min(values)) if min(values) < 0 else 0.0
    ymax = _nice_max(max(values)) if max(values) > 0 or ymin == 0 else 0.0
    parts = [
        f'<svg class="chart series" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{left}" y="14" class="chart-title">{escape(label)} ({escape(unit)})</text>',
    ]
    for frac in (0, 0.5, 1):
        y = top + ph * (1 - frac)
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e7eb"/>')
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{ymin + (ymax - ymin) * frac:g}</text>"
        )
    for t in _time_ticks(since, until, 5):
        x = _x(t, since, until, left, pw)
        parts.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" class="tick">{t:%H:%M}</text>')

    def y_of(v: float) -> float:
        return top + ph * (1 - (min(max(v, ymin), ymax) - ymin) / (ymax - ymin))

    if not points:
        parts.append(
            f'<text x="{left + pw / 2}" y="{top + ph / 2}" text-anchor="middle" class="empty">'
            "no data yet</text>"
        )
    elif kind == "bar":
        bw = max(1.5, pw / max(len(points), 1) * 0.7)
        for t, v in points:
            x = _x(t, since, until, left, pw)
            parts.append(
                f'<rect x="{x - bw / 2:.1f}" y="{min(y_of(v), y_of(0)):.1f}" width="{bw:.1f}" '
                f'height="{abs(y_of(0) - y_of(v)):.1f}" '
                f'fill="{colour}"><title>{t:%H:%M:%S} {v:g} {escape(unit)}</title></rect>'
            )
    else:
        path = " ".join(f"{_x(t, since, until, left, pw):.1f},{y_of(v):.1f}" for t, v in points)
        parts.append(
            f'<polyline points="{path}" data-points="{len(points)}" fill="none" stroke="{colour}" '
            'stroke-width="1.8"/>'
        )
        for t, v in points[-1:]:
            parts.append(
                f'<circle cx="{_x(t, since, until, left, pw):.1f}" cy="{y_of(v):.1f}" r="3" fill="{colour}"/>'
            )
    if limit is not None:
        y = y_of(limit)
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d64545" '
            'stroke-dasharray="4 3"/>'
            f'<text x="{left + pw}" y="{y - 3:.1f}" text-anchor="end" class="tick limit">'
            f"{escape(limit_label)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def thin(
    points: Sequence[tuple[datetime, float]],
    *,
    since: datetime,
    until: datetime,
    max_points: int = 288,
    keep: str = "last",
) -> list[tuple[datetime, float]]:
    """At most `max_points` points: one per equal time bucket of [since, until] that has any.

    `keep` "max" keeps each bucket's largest value (a lag spike must not vanish), "last" its latest.
    Points must be oldest first; with no more than `max_points` of them they come back unchanged.
    """
    if len(points) <= max_points:
        return list(points)
    span = (until - since).total_seconds() or 1.0
    buckets: dict[int, tuple[datetime, float]] = {}
    for t, v in points:
        b = min(max_points - 1, max(0, int((t - since).total_seconds() / span * max_points)))
        if keep == "max" and b in buckets and buckets[b][1] >= v:
            continue
        buckets[b] = (t, v)
    return [buckets[b] for b in sorted(buckets)]


def lag_gauge(lag_s: float | None, interval_s: float, timeout_factor: float, *, width: int = 440) -> Markup:
    """Time since the last heartbeat against the interval, overdue (1.5x) and timeout (factor x) marks."""
    left, pw, top, h = 8.0, width - 16.0, 18.0, 16.0
    full = interval_s * max(timeout_factor, 1.5) * 1.15
    since_last = None if lag_s is None else lag_s + interval_s
    parts = [
        f'<svg class="chart gauge" viewBox="0 0 {width} 56" role="img" aria-label="heartbeat lag" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{h}" rx="3" fill="#eef1f4"/>',
    ]
    if since_last is not None:
        frac = min(1.0, max(0.0, since_last / full))
        colour = (
            STATUS_COLOURS["online"]
            if since_last <= 1.5 * interval_s
            else STATUS_COLOURS["stale"]
            if since_last <= timeout_factor * interval_s
            else STATUS_COLOURS["offline"]
        )
        parts.append(
            f'<rect class="gauge-bar" x="{left}" y="{top}" width="{pw * frac:.1f}" height="{h}" rx="3" '
            f'fill="{colour}"/>'
        )
    for mult, name in ((1.0, "interval"), (1.5, "overdue"), (timeout_factor, "timeout")):
        x = left + pw * min(1.0, mult * interval_s / full)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{top + h + 4}" stroke="#4a535c"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{top + h + 16}" text-anchor="middle" class="tick">'
            f"{name} {mult * interval_s:g}s</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def window(now: datetime, hours: float) -> tuple[datetime, datetime]:
    return now - timedelta(hours=hours), now
