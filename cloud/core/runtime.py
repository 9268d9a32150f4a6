"""Interpreter settings for the long-running control plane (`mobilytics up`): the garbage
collector's thresholds.

The bridge decoded a flush of telemetry into about eight container objects per observation, a
few hundred thousand at a time, all alive until the flush commits (its rows are now untracked
msgspec Structs, cloud/ingest/rows.py; the messages and batches still are). With CPython's default
thresholds (700, 10, 10) the collector runs every few hundred of those allocations and keeps walking
objects that live for the whole process (the imported app, SQLAlchemy's metadata): decoding and
building rows ran at half the speed (300k against 620k obs/s, measured on 200k observations with the
cloud imported). Freezing what startup allocated takes it out of every collection, and a
larger first threshold makes the young collections rarer; cyclic garbage is still collected.
"""

from __future__ import annotations

import gc

YOUNG = 50_000  # allocations between young collections (CPython's default: 700)
MIDDLE = 20  # young collections per middle one (default 10)
OLD = 100  # middle collections per full one, on top of CPython's 25% rule (default 10)


def settle_after_startup() -> None:
    """Freeze the objects startup made and raise the thresholds; call once, after the imports."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
