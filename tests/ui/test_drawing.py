"""The inline SVG charts and the tile-free map say what the data says (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloud.ui import charts, geo

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_timeline_colours_each_status_span() -> None:
    svg = charts.status_timeline(
        "online",
        [(T0 + timedelta(hours=1), "offline", "lwt"), (T0 + timedelta(hours=2), "online", "birth")],
        since=T0,
        until=T0 + timedelta(hours=4),
    )
    assert svg.count("seg-online") == 2
    assert svg.count("seg-offline") == 1
    assert "offline from 13:00:00 to 14:00:00 UTC (lwt)" in svg


def test_series_scales_to_a_round_maximum_and_marks_the_limit() -> None:
    pts = [(T0 + timedelta(minutes=i), float(v)) for i, v in enumerate([3, 7, 42])]
    svg = charts.time_series(pts, since=T0, until=T0 + timedelta(minutes=3), label="lag", unit="s", limit=45)
    assert ">50<" in svg
    assert "stroke-dasharray" in svg
    assert "polyline" in svg


def test_map_projects_positions_with_a_true_scale_bar() -> None:
    brno = [(T0, 49.1951, 16.6068), (T0 + timedelta(minutes=1), 49.2000, 16.6100)]
    svg = geo.render(
        [geo.Track("rpi-1", "online", brno), geo.Track("esp-2", "offline", [(T0, 49.19, 16.60)])]
    )
    assert 'data-device="rpi-1"' in svg
    assert 'data-device="esp-2"' in svg
    assert "route" in svg
    assert " m<" in svg or " km<" in svg
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # no tiles, no network
    assert "no positions yet" in geo.render([])


def test_thinning_keeps_one_point_per_bucket_and_the_lag_spikes() -> None:
    pts = [(T0 + timedelta(seconds=10 * i), 50.0 if i == 7 else 1.0) for i in range(360)]  # 1 h at 10 s
    until = T0 + timedelta(hours=1)
    assert charts.thin(pts[:5], since=T0, until=until, max_points=12) == pts[:5]
    thinned = charts.thin(pts, since=T0, until=until, max_points=12, keep="max")
    assert len(thinned) == 12
    assert thinned[0] == pts[7]
    assert charts.thin(pts, since=T0, until=until, max_points=12)[0] == pts[29]


def test_series_with_negative_values_gets_a_negative_axis() -> None:
    pts = [(T0 + timedelta(minutes=i), float(v)) for i, v in enumerate([-61, -75, -88])]
    svg = charts.time_series(pts, since=T0, until=T0 + timedelta(minutes=3), label="rssi", unit="dBm")
    assert ">-100<" in svg
    assert ">0<" in svg
    ys = [float(p.split(",")[1]) for p in svg.split('points="')[1].split('"')[0].split()]
    assert all(22 <= y <= 150 - 22 for y in ys)  # inside the plot, not below it
