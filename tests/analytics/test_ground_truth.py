"""Every metric the rollup reports equals the value computed independently from the scenario."""

from __future__ import annotations

import pytest

from cloud.analytics import (
    AdSpot,
    Campaign,
    CampaignAsset,
    DeviceMount,
    ImpressionRule,
    Rollup,
    parse_zone,
)
from cloud.analytics.privacy import small
from tests.analytics.scenario import (
    CAMPAIGNS,
    END,
    MOUNTS,
    PASSERBY_RSSI,
    T0,
    TZ,
    ZONE_RECTS,
    Scenario,
    spots,
    zone_geojson,
)

BREAKDOWNS = [
    (),
    ("asset",),
    ("zone",),
    ("hour",),
    ("day",),
    ("asset", "zone", "hour"),
    ("asset", "quarter"),
]
FIELDS = (
    "impressions",
    "reach",
    "frequency",
    "passersby",
    "visitors",
    "engaged",
    "dwell_median_s",
    "dwell_p90_s",
    "dwell_buckets",
    "randomized.addresses",
    "randomized.impressions_by_address",
)


def make_rollup(sc: Scenario) -> Rollup:
    zones = tuple(parse_zone(z, zone_geojson(z)) for z in ZONE_RECTS)
    campaigns = []
    runs = []
    for cid, (rule, exposure, zoned, asset_runs) in CAMPAIGNS.items():
        rule = ImpressionRule(rule)
        campaigns.append(
            Campaign(
                cid,
                exposure_rssi=exposure,
                passerby_rssi=PASSERBY_RSSI,
                zones=zones if zoned else (),
                rule=rule,
                spots=tuple(AdSpot(*s) for s in spots()) if rule is ImpressionRule.DIGITAL_SPOTS else (),
            )
        )
        runs += [CampaignAsset(cid, a, s, e) for a, s, e in asset_runs]
    mounts = [DeviceMount(d, a, s, u) for d, a, s, u in MOUNTS]
    return Rollup(campaigns=campaigns, runs=runs, mounts=mounts, infrastructure=sc.infrastructure)


def value(row, name):
    if name.startswith("randomized."):
        return getattr(row.randomized, name.split(".", 1)[1])
    return getattr(row, name)


def as_table(report):
    return {(r.asset_id, r.zone_id, r.period): {f: value(r, f) for f in FIELDS} for r in report.rows}


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return Scenario(seed=1)


@pytest.fixture(scope="module")
def absorbed(scenario) -> Rollup:
    r = make_rollup(scenario)
    for b in scenario.batches():
        r.absorb(b)
    return r


@pytest.mark.parametrize("cid", sorted(CAMPAIGNS))
@pytest.mark.parametrize("by", BREAKDOWNS, ids=lambda b: "+".join(b) or "total")
def test_every_metric_equals_ground_truth(scenario, absorbed, cid, by):
    got = as_table(absorbed.report(cid, by=by, tz=TZ, k=1))
    want = scenario.expected(cid, by)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == want[key], key


def test_shuffled_late_and_duplicated_batches_give_the_same_reports(scenario, absorbed):
    shuffled = make_rollup(scenario)
    for b in scenario.batches(shuffle=True, late=0.3, dup=0.2):
        shuffled.absorb(b)
    for cid in CAMPAIGNS:
        for by in BREAKDOWNS:
            assert shuffled.report(cid, by=by, tz=TZ) == absorbed.report(cid, by=by, tz=TZ)


def test_the_swapped_sensors_are_attributed_to_the_right_board(scenario, absorbed):
    rows = {r.asset_id: r for r in absorbed.report("boards", by=("asset",), k=1).rows}
    want = scenario.expected("boards", ("asset",))
    assert rows["board-1"].reach == want[("board-1", None, None)]["reach"]
    assert rows["board-2"].reach == want[("board-2", None, None)]["reach"]
    # board-2 only joined the campaign an hour in: nothing before that
    early = absorbed.report("boards", by=("asset",), start_ms=T0, end_ms=T0 + 3600_000, k=1).rows
    assert {r.asset_id for r in early} == {"board-1"}


def test_crew_and_the_kiosk_are_found_and_the_router_never_counted(scenario, absorbed):
    truck_crew = absorbed.crew("truck-1", 0.8)
    assert set().union(*truck_crew.values()) == scenario.crew["truck-1"]
    board_crew = absorbed.crew("board-2", 0.8)
    assert set().union(*board_crew.values()) == scenario.crew["board-2"]
    assert not absorbed.crew("board-1", 0.8)
    (router,) = scenario.infrastructure
    assert all(router not in cell.seen for cells in absorbed.cells.values() for cell in cells.values())


def test_local_hours_follow_the_fall_back(absorbed):
    periods = [r.period for r in absorbed.report("boards", by=("hour",), tz=TZ, k=1).rows]
    assert "2024-10-27T02:00:00+02:00" in periods
    assert "2024-10-27T02:00:00+01:00" in periods
    assert len(periods) == len(set(periods)) == 7
    utc_hours = [r.period for r in absorbed.report("boards", by=("hour",), tz="UTC", k=1).rows]
    assert len(utc_hours) == 7


# The estimator's stated bound on this scenario (rotation 10-20 min, phones 20-40 s apart):
# per asset and 15-minute grain within 1 device or 30%, whichever is larger; campaign total
# (modelled across grains) within 45%. Measured over seeds 1-8 x 3 campaigns (docs/metrics.md):
# per-grain MAE 0.05 devices; totals MAPE 12%, worst 40% (13 people); counting addresses: MAPE 30%.
def test_randomized_estimate_is_within_the_stated_bound(scenario, absorbed):
    for cid in CAMPAIGNS:
        truth = scenario.randomized_people_by_quarter(cid)
        rows = absorbed.report(cid, by=("asset", "quarter"), tz="UTC", k=1).rows
        for r in rows:
            want = len(truth.get((r.asset_id, r.period_start_ms), ()))
            got = r.randomized.estimated_devices or 0
            assert abs(got - want) <= max(1, 0.3 * want), (cid, r.asset_id, r.period, got, want)
        total = absorbed.report(cid, k=1).rows[0].randomized.estimated_devices
        people = len(scenario.randomized_people(cid))
        assert abs(total - people) <= 0.45 * people, (cid, total, people)


def test_k_anonymity_hides_exactly_the_small_counts(scenario, absorbed):
    device_fields = ("reach", "passersby", "visitors", "engaged", "randomized.addresses")
    for cid in CAMPAIGNS:
        for by in BREAKDOWNS:
            open_rows = {
                (r.asset_id, r.zone_id, r.period): r for r in absorbed.report(cid, by=by, tz=TZ, k=1).rows
            }
            for r in absorbed.report(cid, by=by, tz=TZ, k=5).rows:
                truth = open_rows[(r.asset_id, r.zone_id, r.period)]
                if r.suppressed:
                    assert all(value(r, f) is None for f in FIELDS if f != "dwell_buckets")
                    continue
                for f in device_fields:
                    n = value(truth, f)
                    assert value(r, f) == (None if small(n, 5) else n), (cid, by, f)
                if r.reach is None:
                    assert r.impressions is None
                    assert r.frequency is None


def test_period_filter_and_seal(scenario):
    r = make_rollup(scenario)
    batches = scenario.batches(late=0.0, dup=0.0)
    half = len(batches) // 2
    for b in batches[:half]:
        r.absorb(b)
    cut = batches[half][0][1] - 2 * 3600_000
    dropped = r.seal(cut)
    assert dropped > 0
    late = [o for b in batches[:half] for o in b if o[1] < r.sealed_before][:10]
    stats = r.absorb(late)
    assert stats.too_late == len(late)
    for b in batches[half:]:
        r.absorb(b)
    total = r.report("boards", k=1).rows[0]
    assert total.reach == scenario.expected("boards", ())[(None, None, None)]["reach"]
    assert r.report("boards", start_ms=END, k=1).rows == ()
