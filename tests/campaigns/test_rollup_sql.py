"""The SQL rollup equals the in-memory core and the scenario's ground truth (SQLite and PostgreSQL),
whatever the batching: late, duplicated, shuffled batches folded flush by flush."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cloud.analytics.sql.query import campaign_report
from cloud.analytics.sql.update import apply_observations
from cloud.campaigns.world import load_campaigns
from tests.analytics.scenario import CAMPAIGNS, TZ, Scenario
from tests.analytics.test_ground_truth import BREAKDOWNS, as_table, make_rollup
from tests.campaigns.conftest import h
from tests.campaigns.world_setup import build_world


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return Scenario(seed=1)


def _rows(report):
    # period_start_ms: SQL gives the local period's start, the core its first cell with data
    return [dataclasses.replace(r, period_start_ms=None) for r in report.rows]


def _fold(engine: Engine, batches: list, per_flush: int) -> None:
    for i in range(0, len(batches), per_flush):
        rows = [
            (o[0], "boot", 0, o[1], o[2], o[3], o[4], o[5], o[6], o[7])
            for b in batches[i : i + per_flush]
            for o in b
        ]
        with engine.begin() as conn:
            apply_observations(conn, rows)


def test_sql_rollup_equals_core_and_truth(
    engine: Engine, api: TestClient, ops_tokens, scenario: Scenario
) -> None:
    build_world(api, h(ops_tokens["write"]), scenario)
    # the exactly-once store drops repeated batches before the rollups; late and shuffled ones stay
    batches = scenario.batches(shuffle=True, late=0.3, dup=0.0)
    _fold(engine, batches, per_flush=7)
    core = make_rollup(scenario)
    for b in batches:
        core.absorb(b)
    with engine.connect() as conn:
        campaigns = load_campaigns(conn, CAMPAIGNS)
        for cid in CAMPAIGNS:
            for by in BREAKDOWNS:
                got = campaign_report(conn, campaigns[cid], by=by, tz=TZ, k=1)
                assert as_table(got) == scenario.expected(cid, by), (cid, by)
                want = core.report(cid, by=by, tz=TZ, k=1)
                assert _rows(got) == _rows(want), (cid, by)
                # with the campaign's k (5): the same suppression
                private = campaign_report(conn, campaigns[cid], by=by, tz=TZ)
                assert _rows(private) == _rows(core.report(cid, by=by, tz=TZ)), (cid, by)


def test_partner_functions(engine: Engine, api: TestClient, ops_tokens, scenario: Scenario) -> None:
    from cloud.analytics.sql.partners import delivered_impressions_by_day, exposed_segment

    build_world(api, h(ops_tokens["write"]), scenario)
    _fold(engine, scenario.batches(late=0.2, dup=0.0), per_flush=50)
    with engine.connect() as conn:
        for cid in CAMPAIGNS:
            total = scenario.expected(cid, ())[(None, None, None)]
            days = delivered_impressions_by_day(conn, cid)
            assert [d.day.isoformat() for d in days] == ["2024-10-26", "2024-10-27"]
            assert sum(d.impressions for d in days) == total["impressions"]
            seg = exposed_segment(conn, cid, min_devices=1)
            assert seg.devices == total["reach"]
            assert len(seg.hids) == total["reach"]
            assert all(len(x) == 16 for x in seg.hids)
            assert sum(c.impressions or 0 for c in seg.by_zone_hour) <= total["impressions"]
            closed = exposed_segment(conn, cid)  # default: 100 devices at least
            assert closed.hids == ()
            assert not closed.released
