"""Unit tests of the pieces: sessions, zones, grains across DST, impressions rules, crew, estimator."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from cloud.analytics.campaigns import AdSpot, Campaign, ImpressionRule
from cloud.analytics.crew import crew_by_quarter
from cloud.analytics.estimate import Span, estimate_devices
from cloud.analytics.exceptions import CampaignConfigError, TimeZoneError, ZoneError
from cloud.analytics.exposure import parse_zone, zone_to_geojson
from cloud.analytics.grains import QUARTER_MS, Grain, day_bounds_ms, local_start, period_key
from cloud.analytics.impressions import impression_times
from cloud.analytics.sessions import Track, split_sessions

MIN = 60_000


def test_track_merges_when_a_late_sighting_bridges_two_sessions():
    t = Track()
    for ts in (0, 4 * MIN, 12 * MIN, 14 * MIN):
        t.insert(ts, 5 * MIN)
    assert t.sessions() == [(0, 4 * MIN), (12 * MIN, 14 * MIN)]
    assert t.insert(8 * MIN, 5 * MIN)  # 4 min after the first, 4 min before the second
    assert t.sessions() == [(0, 14 * MIN)]
    assert not t.insert(8 * MIN, 5 * MIN)  # idempotent


def test_track_equals_batch_definition_in_any_order():
    import random

    rng = random.Random(7)
    ts = sorted(rng.randrange(0, 120 * MIN) for _ in range(60))
    for _ in range(20):
        shuffled = ts[:]
        rng.shuffle(shuffled)
        t = Track()
        for x in shuffled:
            t.insert(x, 5 * MIN)
        assert t.sessions() == split_sessions(ts, 5 * MIN)


SQUARE = {
    "type": "Polygon",
    "coordinates": [[[16.0, 49.0], [16.1, 49.0], [16.1, 49.1], [16.0, 49.1], [16.0, 49.0]]],
}


def test_zone_point_in_polygon_with_hole_and_roundtrip():
    holed = {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                SQUARE["coordinates"][0],
                [[16.04, 49.04], [16.06, 49.04], [16.06, 49.06], [16.04, 49.06], [16.04, 49.04]],
            ],
        },
    }
    z = parse_zone("old-town", holed)
    assert z.contains(49_020_000, 16_020_000)
    assert not z.contains(49_050_000, 16_050_000)  # in the hole
    assert not z.contains(49_200_000, 16_020_000)
    again = parse_zone("old-town", zone_to_geojson(z))
    assert again.polygons == z.polygons


@pytest.mark.parametrize(
    ("geo", "path"),
    [
        ("{not json", "$"),
        ({"type": "Point", "coordinates": [1, 2]}, "$.type"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}, "$.coordinates[0]"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, "a"], [2, 2]]]}, "$.coordinates[0][1]"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 95], [2, 2]]]}, "$.coordinates[0][1]"),
        ({"type": "Feature", "geometry": None}, "$.geometry"),
    ],
)
def test_zone_errors_are_typed_and_point_at_the_json_path(geo, path):
    with pytest.raises(ZoneError) as e:
        parse_zone("z1", geo)
    assert e.value.zone_id == "z1"
    assert e.value.path == path


def test_local_hours_across_fall_back_are_distinct_and_days_have_25_hours():
    tz = "Europe/Prague"
    start, end = day_bounds_ms(2024, 10, 27, tz)
    assert (end - start) == 25 * 3600 * 1000
    hours = {period_key(q, Grain.HOUR, tz) for q in range(start, end, QUARTER_MS)}
    assert len(hours) == 25
    assert "2024-10-27T02:00:00+02:00" in hours
    assert "2024-10-27T02:00:00+01:00" in hours
    days = {period_key(q, Grain.DAY, tz) for q in range(start, end, QUARTER_MS)}
    assert days == {"2024-10-27T00:00:00+02:00"}


def test_spring_forward_day_has_23_hours_and_half_hour_zones_work():
    start, end = day_bounds_ms(2024, 3, 31, "Europe/Prague")
    assert end - start == 23 * 3600 * 1000
    # India is +05:30: the local hour starts at :30 UTC, still a 15-minute boundary
    q = int(datetime(2024, 1, 1, 4, 45, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)
    assert local_start(q, Grain.HOUR, "Asia/Kolkata").isoformat() == "2024-01-01T10:00:00+05:30"


def test_unknown_zone_and_off_grid_offsets_raise():
    with pytest.raises(TimeZoneError):
        period_key(0, Grain.HOUR, "Mars/Olympus")
    # Amsterdam in 1930 ran on +00:19:32 local mean time
    q = int(datetime(1930, 6, 1, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)
    with pytest.raises(TimeZoneError):
        period_key(q, Grain.HOUR, "Europe/Amsterdam")


def test_static_rule_one_per_session_dedup_rule_one_per_window():
    t = Track()
    for ts in range(0, 40 * MIN, MIN):  # one 39-minute session
        t.insert(ts, 5 * MIN)
        t.note_window(ts, 15 * MIN)
    assert impression_times(t, Campaign("s", rule=ImpressionRule.STATIC_OTS), "a") == [0]
    assert sorted(impression_times(t, Campaign("d"), "a")) == [0, 15 * MIN, 30 * MIN]


def test_digital_rule_counts_spots_shown_at_least_one_second_while_present():
    spots = (
        AdSpot("a", 10 * MIN, 10 * MIN + 10_000),  # inside the session
        AdSpot("a", 20 * MIN - 500, 20 * MIN + 5000),  # 1.5 s with the 20-min session [20 min, +1 s)
        AdSpot("a", 20 * MIN + 800, 20 * MIN + 9000),  # only 0.2 s of presence tail
        AdSpot("b", 12 * MIN, 13 * MIN),  # another asset
    )
    c = Campaign("dg", rule=ImpressionRule.DIGITAL_SPOTS, spots=spots)
    t = Track()
    for ts in (5 * MIN, 9 * MIN, 14 * MIN, 20 * MIN):  # sessions [5, 14] and [20, 20] minutes
        t.insert(ts, 5 * MIN)
    assert impression_times(t, c, "a") == [10 * MIN, 20 * MIN]


def test_campaign_config_is_validated():
    with pytest.raises(CampaignConfigError) as e:
        Campaign("c", exposure_rssi=-90, passerby_rssi=-80)
    assert e.value.field == "passerby_rssi"
    with pytest.raises(CampaignConfigError):
        Campaign("c", spots=(AdSpot("a", 0, 1000),))


def test_crew_is_present_more_than_80_percent_of_a_shift():
    shift = list(range(0, 40 * QUARTER_MS, QUARTER_MS))  # 10 hours
    presence = {
        "crew": set(shift[:34]),  # 85%
        "half": set(shift[::2]),
        "eighty": set(shift[:32]),  # exactly 80%: not more than
    }
    crew = crew_by_quarter(shift, presence, fraction=0.8)
    assert crew[shift[0]] == {"crew"}
    assert crew_by_quarter(shift[:4], {"x": set(shift[:4])}, fraction=0.8) == {}  # too short a shift


def test_estimator_chains_rotations_but_not_parallel_phones():
    # one phone rotating three times, seamlessly and at the same distance
    one = [Span(0, 10 * MIN, -60, -61), Span(10 * MIN + 20_000, 14 * MIN, -62, -60)]
    assert estimate_devices(one) == 1
    # two phones side by side
    assert estimate_devices([Span(0, 5 * MIN, -60, -60), Span(MIN, 6 * MIN, -60, -60)]) == 2
    # a far phone cannot hand over to a near one
    assert estimate_devices([Span(0, MIN, -90, -90), Span(MIN + 5000, 2 * MIN, -50, -50)]) == 2
