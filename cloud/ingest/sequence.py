"""Batch-sequence accounting for one (device, boot): gaps opened, narrowed, split and closed.

Pure: the caller loads the stream's high-water mark and its open gaps, passes the batch numbers
that were *new* (not duplicates) in this flush, and writes back what comes out.

Batch numbers are contiguous from 0 within a boot (protocol SPEC §4), so the first batch of a boot
seen with number n > 0 opens the gap 0..n-1, and a new boot never opens a gap against the previous
one (it is another stream).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Gap:
    first: int
    last: int
    t_from_ms: int
    t_to_ms: int
    id: int | None = None
    closed: bool = False
    dirty: bool = False

    @property
    def missing(self) -> int:
        return 0 if self.closed else self.last - self.first + 1


@dataclass(slots=True)
class Stream:
    max_batch: int = -1  # -1: nothing received on this boot yet
    max_t0_ms: int = 0
    received: int = 0
    gaps: list[Gap] = field(default_factory=list)  # open gaps, plus those this call changed
    filled: int = 0  # late batches that landed in a gap during this call

    @property
    def open_gaps(self) -> list[Gap]:
        return [g for g in self.gaps if not g.closed]


def account(stream: Stream, batches: list[tuple[int, int]]) -> Stream:
    """Apply new (batch, t0_ms) pairs, in any order, to `stream` (modified and returned)."""
    for batch, t0 in sorted(batches):
        stream.received += 1
        if batch > stream.max_batch:
            if batch > stream.max_batch + 1:
                t_from = stream.max_t0_ms if stream.max_batch >= 0 else t0
                stream.gaps.append(Gap(stream.max_batch + 1, batch - 1, t_from, t0, dirty=True))
            stream.max_batch, stream.max_t0_ms = batch, t0
            continue
        for gap in stream.gaps:
            if gap.closed or not gap.first <= batch <= gap.last:
                continue
            stream.filled += 1
            gap.dirty = True
            if gap.first == gap.last:
                gap.closed = True
            elif batch == gap.first:
                gap.first, gap.t_from_ms = batch + 1, t0
            elif batch == gap.last:
                gap.last, gap.t_to_ms = batch - 1, t0
            else:  # split: the gap keeps the lower part, a new one takes the upper part
                stream.gaps.append(Gap(batch + 1, gap.last, t0, gap.t_to_ms, dirty=True))
                gap.last, gap.t_to_ms = batch - 1, t0
            break
    return stream
