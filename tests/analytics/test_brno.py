"""The people estimate on the real labelled Brno data (empty-room nights: occupancy 0)."""

from __future__ import annotations

from pathlib import Path

from bench.analytics_brno import evaluate


def test_empty_lab_reads_as_nearly_empty(shared_dir: Path) -> None:
    directory = shared_dir / "datasets" / "probe-requests-brno"
    res = evaluate(directory, floor=-85)
    assert res["occupancy_values"] == [0.0]
    assert res["mae"] <= 0.1  # measured 0.06 (docs/metrics.md §4.2)
    assert res["naive_mae"] > 2  # counting MACs would say ~3 people in an empty room
