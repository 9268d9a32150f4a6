"""Interpreter settings for the long-running control plane (`mobilytics up`): the garbage
collector's thresholds and the GIL's switch interval.

The bridge decodes a flush of telemetry into about eight container objects per observation, a
few hundred thousand at a time, all alive until the flush commits. With CPython's default
thresholds (700, 10, 10) the collector runs every few hundred of those allocations and keeps walking
objects that live for the whole process (the imported app, SQLAlchemy's metadata): decoding and
building rows ran at half the speed (300k against 620k obs/s, measured on 200k observations with the
cloud imported). Freezing what startup allocated takes it out of every collection, and a
larger first threshold makes the young collections rarer; cyclic garbage is still collected.

The bridge's two stages run in two threads: one decodes (pure Python, never gives the GIL up on its
own), the other mostly waits on PostgreSQL and needs the GIL back after every wait. With the default
5 ms switch interval that thread queues behind the decoder after each of its many short waits
(the convoy effect), and the database idles; a 0.5 ms interval hands the GIL over sooner. On this
2-core machine it measured a few percent better in `bench/ingest.py`, within the run-to-run noise.
"""

from __future__ import annotations

import gc
import sys

YOUNG = 50_000  # allocations between young collections (CPython's default: 700)
MIDDLE = 20  # young collections per middle one (default 10)
OLD = 100  # middle collections per full one, on top of CPython's 25% rule (default 10)
SWITCH_INTERVAL_S = 0.0005  # CPython's default: 0.005


def settle_after_startup() -> None:
    """Freeze the objects startup made, raise the thresholds, shorten the switch interval; call once,
    after the imports."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
