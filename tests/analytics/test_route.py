"""The route core: first fix per asset and minute whatever the order; even thinning keeps the ends."""

from __future__ import annotations

import random

from cloud.analytics.route import Fix, downsample, first_per_minute


def test_first_fix_per_minute_is_order_independent() -> None:
    fixes = [("t", Fix(60_000 + i * 7_000, 49_000_000 + i, 16_000_000 + i)) for i in range(30)]
    fixes += [("b", Fix(60_500, 1, 2)), ("t", Fix(60_000, 48_000_000, 16_000_000))]  # a tie on ts
    want = first_per_minute(fixes)
    assert want[("t", 60_000)] == Fix(60_000, 48_000_000, 16_000_000)
    assert want[("b", 60_000)] == Fix(60_500, 1, 2)
    assert sorted(m for a, m in want if a == "t") == [60_000 * k for k in range(1, 5)]
    for seed in range(5):
        shuffled = fixes[:]
        random.Random(seed).shuffle(shuffled)
        assert first_per_minute(shuffled) == want


def test_downsample_is_bounded_and_keeps_the_ends() -> None:
    pts = [Fix(i, i, i) for i in range(1001)]
    thin = downsample(pts, 10)
    assert len(thin) == 10
    assert thin[0] == pts[0]
    assert thin[-1] == pts[-1]
    assert thin == sorted(set(thin))
    assert downsample(pts[:5], 10) == pts[:5]
    assert downsample(pts[:3], 2) == [pts[0], pts[2]]
