"""The outbox keeps every acknowledged-to-caller batch through SIGKILL, bounds its disk, counts drops."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_agent.exceptions import OutboxError
from edge_agent.outbox import AsyncOutbox, Outbox
from tests.edge_agent.outbox_writer import identity, payload

REPO = Path(__file__).resolve().parents[2]


def test_append_pending_ack_and_numbering_per_boot(tmp_path: Path) -> None:
    db = tmp_path / "outbox.sqlite"
    box = Outbox(db)
    assert [box.append(3, lambda b: f"m{b}".encode(), 0) for _ in range(5)] == [0, 1, 2, 3, 4]
    rows = box.pending()
    assert [r.batch for r in rows] == [0, 1, 2, 3, 4]
    assert [r.batch for r in box.pending(after=rows[1].id, limit=2)] == [2, 3]
    box.ack([rows[0].id, rows[1].id, rows[3].id])
    assert [b.payload for b in box.pending()] == [b"m2", b"m4"]
    box.close()
    box = Outbox(db)  # a new process is a new boot: batch numbers start again at 0 ...
    stats = box.stats()
    assert (stats.depth, stats.bytes, stats.next_batch) == (2, 4, 0)
    assert box.append(1, lambda b: f"n{b}".encode(), 0) == 0
    # ... and the old boot's batches still go first: rows are ordered by an id that is never reused.
    assert [b.payload for b in box.pending()] == [b"m2", b"m4", b"n0"]
    box.ack([r.id for r in box.pending()])
    assert box.append(1, lambda b: b"after-empty", 0) == 1
    assert box.pending()[0].id > rows[-1].id + 1
    box.close()


def test_full_outbox_drops_oldest_and_counts_it_persistently(tmp_path: Path) -> None:
    db = tmp_path / "outbox.sqlite"
    box = Outbox(db, max_bytes=1000)
    for _ in range(25):
        box.append(7, lambda b: b"x" * 100, 0)
    assert [b.batch for b in box.pending()] == list(range(15, 25))
    stats = box.stats()
    assert (stats.dropped_batches, stats.dropped_obs, stats.dropped_obs_this_boot, stats.bytes) == (
        15,
        105,
        105,
        1000,
    )
    with pytest.raises(OutboxError, match="exceeds max_bytes"):
        box.append(1, lambda b: b"y" * 1001, 0)
    assert box.stats().depth == 10  # the failed append changed nothing
    assert box.stats().next_batch == 25  # and numbered nothing
    box.close()
    again = Outbox(db, max_bytes=1000)
    stats = again.stats()
    assert (stats.dropped_batches, stats.dropped_obs, stats.dropped_obs_this_boot) == (15, 105, 0)
    again.close()


def check_after_kill(db: Path, stored: set[tuple[str, int]], acked: set[tuple[str, int]]) -> None:
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    box = Outbox(db, max_bytes=1 << 30)
    rows = box.pending(limit=10**9)
    present = set()
    for row in rows:  # nothing half-written: every stored message is whole and verifiable
        doc = json.loads(row.payload)
        assert hashlib.sha256(doc["body"].encode()).hexdigest() == doc["sha256"]
        boot, batch = identity(row.payload)
        assert row.payload == payload(boot, batch)
        assert row.batch == batch
        present.add((boot, batch))
    assert stored - acked <= present, f"lost committed batches: {sorted(stored - acked - present)[:10]}"
    box.close()


def test_sigkill_at_random_instants_loses_nothing_committed(tmp_path: Path) -> None:
    db = tmp_path / "outbox.sqlite"
    rng = random.Random(20240607)
    stored: set[int] = set()
    acked: set[int] = set()
    for _round in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.edge_agent.outbox_writer", str(db)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for line in proc.stdout:
            word, boot, number = line.split()
            (stored if word == "stored" else acked).add((boot, int(number)))
        check_after_kill(db, stored, acked)
    assert len(stored) > 50  # the writer really ran between kills


async def test_async_outbox_runs_on_its_own_thread(tmp_path: Path) -> None:
    async with AsyncOutbox(tmp_path / "o.sqlite", max_bytes=10_000) as box:
        assert await box.append(2, lambda b: b"abc", 1) == 0
        pending = await box.pending()
        assert [b.batch for b in pending] == [0]
        await box.ack([pending[0].id])
        assert (await box.stats()).depth == 0
