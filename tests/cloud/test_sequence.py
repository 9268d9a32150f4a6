"""Gap accounting as a pure function: opened, narrowed, split, closed; a new boot opens nothing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cloud.ingest.sequence import Stream, account


def _open(stream: Stream) -> list[tuple[int, int]]:
    return sorted((g.first, g.last) for g in stream.open_gaps)


def test_in_order_batches_open_no_gap() -> None:
    s = account(Stream(), [(0, 0), (1, 1000), (2, 2000), (3, 3000)])
    assert s.max_batch == 3
    assert _open(s) == []


def test_a_missing_range_opens_a_gap_that_late_batches_split_and_close() -> None:
    s = account(Stream(), [(0, 0), (1, 1000), (6, 6000)])
    assert _open(s) == [(2, 5)]
    assert (s.gaps[0].t_from_ms, s.gaps[0].t_to_ms) == (1000, 6000)
    s = account(s, [(4, 4000)])
    assert _open(s) == [(2, 3), (5, 5)]
    s = account(s, [(2, 2000), (5, 5000)])
    assert _open(s) == [(3, 3)]
    s = account(s, [(3, 3000)])
    assert _open(s) == []
    assert s.filled == 4
    assert all(g.closed for g in s.gaps)


def test_first_batch_of_a_boot_above_zero_opens_the_leading_gap() -> None:
    s = account(Stream(), [(3, 3000)])
    assert _open(s) == [(0, 2)]
    s = account(s, [(0, 0), (1, 1000), (2, 2000)])
    assert _open(s) == []


def test_a_new_boot_is_a_new_stream_without_a_gap() -> None:
    old = account(Stream(), [(0, 0), (1, 1), (2, 2), (3, 3)])
    new = account(Stream(), [(0, 10)])
    assert _open(old) == []
    assert _open(new) == []


@given(st.permutations(list(range(40))), st.integers(min_value=1, max_value=40))
def test_any_arrival_order_ends_with_exactly_the_missing_batches_open(order: list[int], cut: int) -> None:
    received = order[:cut]
    s = Stream()
    for b in received:  # one flush per batch, the hardest order for the accounting
        account(s, [(b, b * 1000)])
    missing = set(range(max(received) + 1)) - set(received)
    open_batches = {b for g in s.open_gaps for b in range(g.first, g.last + 1)}
    assert open_batches == missing
