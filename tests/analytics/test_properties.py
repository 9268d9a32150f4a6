"""Properties: absorbing in any order/batching (with repeats) gives the same answers; k-anonymity
never lets a small device count through."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.analytics import Campaign, CampaignAsset, DeviceMount, ImpressionRule, Rollup
from cloud.analytics.campaigns import AdSpot
from cloud.analytics.grains import QUARTER_MS

T0 = 1_700_000_000_000 - 1_700_000_000_000 % QUARTER_MS
SPAN = 3 * 3600 * 1000
BREAKDOWNS = [(), ("asset",), ("quarter",), ("asset", "hour"), ("day",)]

observations = st.lists(
    st.tuples(
        st.sampled_from(["d1", "d2", "d3"]),
        st.integers(T0, T0 + SPAN),
        st.sampled_from("wb"),
        st.sampled_from([f"{i:016x}" for i in range(12)]),
        st.integers(-95, -40),
        st.sampled_from([0, 0, 1]),
    ),
    max_size=120,
)


def rollup(rule: ImpressionRule) -> Rollup:
    spots = tuple(AdSpot("a1", t, t + 5000) for t in range(T0, T0 + SPAN, 90_000))
    c = Campaign(
        "c", exposure_rssi=-70, rule=rule, spots=spots if rule is ImpressionRule.DIGITAL_SPOTS else ()
    )
    return Rollup(
        campaigns=[c],
        runs=[CampaignAsset("c", "a1", T0, T0 + SPAN), CampaignAsset("c", "a2", T0 + 3600_000, T0 + SPAN)],
        mounts=[
            DeviceMount("d1", "a1", T0),
            DeviceMount("d2", "a2", T0, T0 + SPAN // 2),
            DeviceMount("d2", "a1", T0 + SPAN // 2),
        ],
        min_shift_grains=2,
    )


def normalize(obs):
    # a hid is randomized or not for good: take the flag of its first appearance
    flag = {}
    for o in obs:
        flag.setdefault(o[3], o[5])
    return [(*o[:5], flag[o[3]]) for o in obs]


@settings(max_examples=150, deadline=None)
@given(
    obs=observations,
    rule=st.sampled_from(list(ImpressionRule)),
    perm=st.randoms(use_true_random=False),
    cuts=st.lists(st.integers(0, 120), max_size=6),
)
def test_any_order_and_batching_gives_the_same_answers(obs, rule, perm, cuts):
    obs = normalize(obs)
    one = rollup(rule)
    one.absorb(obs)
    shuffled = obs + obs[: len(obs) // 3]  # some repeated
    perm.shuffle(shuffled)
    other = rollup(rule)
    bounds = sorted({0, len(shuffled), *(min(c, len(shuffled)) for c in cuts)})
    for a, b in itertools.pairwise(bounds):
        other.absorb(shuffled[a:b])
    for by in BREAKDOWNS:
        assert one.report("c", by=by, tz="Europe/Prague", k=1) == other.report(
            "c", by=by, tz="Europe/Prague", k=1
        )


@settings(max_examples=150, deadline=None)
@given(obs=observations, k=st.integers(2, 8), rule=st.sampled_from(list(ImpressionRule)))
def test_k_anonymity_never_leaks_a_small_cell(obs, k, rule):
    r = rollup(rule)
    r.absorb(normalize(obs))
    for by in BREAKDOWNS:
        for row in r.report("c", by=by, k=k).rows:
            counts = [row.reach, row.passersby, row.visitors, row.engaged, row.randomized.addresses]
            for n in counts:
                assert n is None or n == 0 or n >= k
            est = row.randomized.estimated_devices
            assert est is None or est == 0 or est >= k
            if row.reach is None:
                assert row.impressions is None
                assert row.frequency is None
            if row.suppressed:
                assert row.impressions is None
                assert row.dwell_median_s is None
