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
from tests.edge_agent.outbox_writer import payload

REPO = Path(__file__).resolve().parents[2]


def test_append_pending_ack_and_numbers_survive_reopen(tmp_path: Path) -> None:
    db = tmp_path / "outbox.sqlite"
    box = Outbox(db)
    assert [box.append(3, lambda b: f"m{b}".encode(), 0) for _ in range(5)] == [0, 1, 2, 3, 4]
    assert [b.batch for b in box.pending(after=1, limit=2)] == [2, 3]
    box.ack([0, 1, 3])
    assert [b.payload for b in box.pending()] == [b"m2", b"m4"]
    box.close()
    box = Outbox(db)
    stats = box.stats()
    assert (stats.depth, stats.bytes, stats.next_batch) == (2, 4, 5)
    assert box.append(1, lambda b: f"m{b}".encode(), 0) == 5  # never reuses a number
    box.close()


def test_full_outbox_drops_oldest_and_counts_it_persistently(tmp_path: Path) -> None:
    db = tmp_path / "outbox.sqlite"
    box = Outbox(db, max_bytes=1000)
    for _ in range(25):
        box.append(7, lambda b: b"x" * 100, 0)
    assert [b.batch for b in box.pending()] == list(range(15, 25))
    assert (box.stats().dropped_batches, box.stats().dropped_obs, box.stats().bytes) == (15, 105, 1000)
    with pytest.raises(OutboxError, match="exceeds max_bytes"):
        box.append(1, lambda b: b"y" * 1001, 0)
    assert box.stats().depth == 10  # the failed append changed nothing
    box.close()
    again = Outbox(db, max_bytes=1000)
    assert (again.stats().dropped_batches, again.stats().dropped_obs) == (15, 105)
    again.close()


def check_after_kill(db: Path, stored: set[int], acked: set[int]) -> int:
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    box = Outbox(db, max_bytes=1 << 30)
    rows = box.pending(limit=10**9)
    present = {r.batch for r in rows}
    assert stored - acked <= present, f"lost committed batches: {sorted(stored - acked - present)[:10]}"
    for row in rows:  # nothing half-written: every stored message is whole and verifiable
        doc = json.loads(row.payload)
        assert hashlib.sha256(doc["body"].encode()).hexdigest() == doc["sha256"]
        assert row.payload == payload(row.batch)
    nxt = box.stats().next_batch
    assert nxt > max(stored, default=-1)
    box.close()
    return nxt


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
            word, number = line.split()
            (stored if word == "stored" else acked).add(int(number))
        check_after_kill(db, stored, acked)
    assert len(stored) > 50  # the writer really ran between kills


async def test_async_outbox_runs_on_its_own_thread(tmp_path: Path) -> None:
    async with AsyncOutbox(tmp_path / "o.sqlite", max_bytes=10_000) as box:
        assert await box.append(2, lambda b: b"abc", 1) == 0
        assert [b.batch for b in await box.pending()] == [0]
        await box.ack([0])
        assert (await box.stats()).depth == 0
