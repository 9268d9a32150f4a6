"""Store-and-forward: a SQLite outbox of telemetry messages waiting for the broker's PUBACK.

Why SQLite in WAL mode with ``synchronous=FULL``: each append is one transaction, and a commit
returns only after the WAL is fsynced, so a power cut or SIGKILL at any instant leaves either the
whole batch or none of it (SQLite's atomic commit), never half a row; a batch reported as stored is
on disk. Batches are deleted only when the uplink has the broker's acknowledgement.

What is stored is the complete encoded message (envelope and body), not the observations: a batch
resent after a restart carries the same boot id, sequence number and batch number as the first
attempt, so the cloud's dedup on them makes delivery exactly-once.

Bounded disk: the payload bytes held are capped (``max_bytes``). An append that would pass the cap
first deletes the oldest batches, in the same transaction, and adds them to the persisted
``dropped_batches``/``dropped_obs`` counters that the heartbeat reports: dropping is never silent.

Batch numbers are per device and persist across restarts (``next_batch`` in the meta table), so the
cloud sees one gapless series per device whatever the number of boots.

The class is synchronous (the SIGKILL test drives it from a plain subprocess); the agent runs it on
one dedicated thread through ``AsyncOutbox`` so fsyncs never stall the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

from edge_agent.exceptions import OutboxError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS batch (
    batch INTEGER PRIMARY KEY,
    n_obs INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    payload BLOB NOT NULL
) STRICT;
INSERT OR IGNORE INTO meta (key, value) VALUES ('next_batch', 0), ('dropped_batches', 0), ('dropped_obs', 0);
"""


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """One message waiting for its PUBACK."""

    batch: int
    n_obs: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class OutboxStats:
    depth: int
    bytes: int
    dropped_batches: int
    dropped_obs: int
    next_batch: int


class Outbox:
    """The outbox database at ``path``. Not thread-safe: one thread uses it (see AsyncOutbox)."""

    def __init__(self, path: str | Path, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.path = str(path)
        self.max_bytes = max_bytes
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA journal_size_limit=4194304")
            self._db.executescript(_SCHEMA)
            self._bytes, self._depth = self._db.execute(
                "SELECT COALESCE(SUM(length(payload)), 0), COUNT(*) FROM batch"
            ).fetchone()
        except sqlite3.Error as e:
            raise OutboxError(self.path, f"cannot open: {e}") from e

    def close(self) -> None:
        self._db.close()

    def _meta(self, key: str) -> int:
        return self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    def append(self, n_obs: int, build: Callable[[int], bytes], created_ms: int) -> int:
        """Store the message ``build(batch_number)``; returns the batch number once it is durable.

        ``build`` runs inside the transaction so the number it embeds is the one stored."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                batch = self._meta("next_batch")
                payload = build(batch)
                if len(payload) > self.max_bytes:
                    raise OutboxError(self.path, f"a {len(payload)}-byte batch exceeds max_bytes")
                self._make_room(len(payload))
                db.execute(
                    "INSERT INTO batch (batch, n_obs, created_ms, payload) VALUES (?, ?, ?, ?)",
                    (batch, n_obs, created_ms, payload),
                )
                db.execute("UPDATE meta SET value = ? WHERE key = 'next_batch'", (batch + 1,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                self._bytes, self._depth = db.execute(
                    "SELECT COALESCE(SUM(length(payload)), 0), COUNT(*) FROM batch"
                ).fetchone()
                raise
        except sqlite3.Error as e:
            raise OutboxError(self.path, f"append failed: {e}") from e
        self._bytes += len(payload)
        self._depth += 1
        return batch

    def _make_room(self, size: int) -> None:
        """Delete the oldest batches until ``size`` more bytes fit; count what was dropped."""
        while self._bytes + size > self.max_bytes and self._depth:
            batch, n_obs, length = self._db.execute(
                "SELECT batch, n_obs, length(payload) FROM batch ORDER BY batch LIMIT 1"
            ).fetchone()
            self._db.execute("DELETE FROM batch WHERE batch = ?", (batch,))
            self._db.execute("UPDATE meta SET value = value + 1 WHERE key = 'dropped_batches'")
            self._db.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped_obs'", (n_obs,))
            self._bytes -= length
            self._depth -= 1

    def pending(self, after: int = -1, limit: int = 100) -> list[StoredBatch]:
        """Stored batches numbered above ``after``, oldest first."""
        try:
            rows = self._db.execute(
                "SELECT batch, n_obs, payload FROM batch WHERE batch > ? ORDER BY batch LIMIT ?",
                (after, limit),
            ).fetchall()
        except sqlite3.Error as e:
            raise OutboxError(self.path, f"read failed: {e}") from e
        return [StoredBatch(b, n, bytes(p)) for b, n, p in rows]

    def ack(self, batches: list[int]) -> None:
        """The broker has these: delete them (one transaction)."""
        if not batches:
            return
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            marks = ",".join("?" * len(batches))
            freed, count = db.execute(
                f"SELECT COALESCE(SUM(length(payload)), 0), COUNT(*) FROM batch WHERE batch IN ({marks})",
                batches,
            ).fetchone()
            db.execute(f"DELETE FROM batch WHERE batch IN ({marks})", batches)
            db.execute("COMMIT")
        except sqlite3.Error as e:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise OutboxError(self.path, f"ack failed: {e}") from e
        self._bytes -= freed
        self._depth -= count

    def stats(self) -> OutboxStats:
        return OutboxStats(
            depth=self._depth,
            bytes=self._bytes,
            dropped_batches=self._meta("dropped_batches"),
            dropped_obs=self._meta("dropped_obs"),
            next_batch=self._meta("next_batch"),
        )


P = ParamSpec("P")
T = TypeVar("T")


class AsyncOutbox:
    """The outbox on one dedicated thread, awaited from the event loop. Use as an async context
    manager: the database is opened on that thread and closed there on exit."""

    def __init__(self, path: str | Path, max_bytes: int) -> None:
        self._args = (path, max_bytes)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._outbox: Outbox | None = None

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    async def __aenter__(self) -> AsyncOutbox:
        self._outbox = await self._run(Outbox, *self._args)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._outbox is not None:
            await self._run(self._outbox.close)
        self._executor.shutdown(wait=True)

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            raise OutboxError(str(self._args[0]), "used outside its async with block")
        return self._outbox

    async def append(self, n_obs: int, build: Callable[[int], bytes], created_ms: int) -> int:
        return await self._run(self.outbox.append, n_obs, build, created_ms)

    async def pending(self, after: int = -1, limit: int = 100) -> list[StoredBatch]:
        return await self._run(self.outbox.pending, after, limit)

    async def ack(self, batches: list[int]) -> None:
        await self._run(self.outbox.ack, batches)

    async def stats(self) -> OutboxStats:
        return await self._run(self.outbox.stats)
