"""Store-and-forward: a SQLite outbox of telemetry messages waiting for the broker's PUBACK.

Why SQLite in WAL mode with ``synchronous=FULL``: each append is one transaction, and a commit
returns only after the WAL is fsynced, so a power cut or SIGKILL at any instant leaves either the
whole batch or none of it (SQLite's atomic commit), never half a row; a batch reported as stored is
on disk. Batches are deleted only when the uplink has the broker's acknowledgement.

What is stored is the complete encoded message (envelope and body), not the observations: a batch
resent after a restart carries the same boot id, sequence number and batch number as the first
attempt (SPEC §4), so the cloud's dedup on ``(device, boot, seq)`` makes delivery exactly-once.

Numbering: telemetry's ``batch`` counts from 0 in each boot (SPEC §4), and one process is one boot,
so the counter lives in memory and only moves when an append commits: the batches of a boot are
contiguous, and a batch that was never stored was never numbered. Rows have their own id
(AUTOINCREMENT, never reused) that orders sending across boots, oldest first.

Bounded disk: the payload bytes held are capped (``max_bytes``). An append that would pass the cap
first deletes the oldest batches, in the same transaction, and adds them to persisted counters
(``dropped_batches``/``dropped_obs``); the heartbeat reports the observations dropped in this boot
(SPEC §5.2): dropping is never silent.

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
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch INTEGER NOT NULL,
    n_obs INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    payload BLOB NOT NULL
) STRICT;
INSERT OR IGNORE INTO meta (key, value) VALUES ('dropped_batches', 0), ('dropped_obs', 0);
"""


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """One message waiting for its PUBACK; ``id`` orders the outbox, ``batch`` is its boot's number."""

    id: int
    batch: int
    n_obs: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class OutboxStats:
    depth: int
    bytes: int
    dropped_batches: int  # since the database was created
    dropped_obs: int  # since the database was created
    dropped_obs_this_boot: int
    next_batch: int  # this boot's next batch number = batches stored in this boot


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
                "SELECT COALESCE(SUM(length(payload)), 0), COUNT(*) FROM outbox"
            ).fetchone()
            self._dropped_obs_at_open = self._meta("dropped_obs")
        except sqlite3.Error as e:
            raise OutboxError(self.path, f"cannot open: {e}") from e
        self._next_batch = 0

    def close(self) -> None:
        self._db.close()

    def _meta(self, key: str) -> int:
        return self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    def append(self, n_obs: int, build: Callable[[int], bytes], created_ms: int) -> int:
        """Store the message ``build(batch_number)``; returns the batch number once it is durable.

        ``build`` runs inside the transaction so the number it embeds is the one stored."""
        db = self._db
        batch = self._next_batch
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                payload = build(batch)
                if len(payload) > self.max_bytes:
                    raise OutboxError(self.path, f"a {len(payload)}-byte batch exceeds max_bytes")
                self._make_room(len(payload))
                db.execute(
                    "INSERT INTO outbox (batch, n_obs, created_ms, payload) VALUES (?, ?, ?, ?)",
                    (batch, n_obs, created_ms, payload),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                self._bytes, self._depth = db.execute(
                    "SELECT COALESCE(SUM(length(payload)), 0), COUNT(*) FROM outbox"
                ).fetchone()
                raise
        except sqlite3.Error as e:
            raise OutboxError(self.path, f"append failed: {e}") from e
        self._bytes += len(payload)
        self._depth += 1
        self._next_batch = batch + 1
        return batch

    def _make_room(self, size: int) -> None:
        """Delete the oldest batches until ``size`` more bytes fit; count what was dropped."""
        while self._bytes + size > self.max_bytes and self._depth:
            row_id, n_obs, length = self._db.execute(
                "SELECT id, n_obs, length(payload) FROM outbox ORDER BY id LIMIT 1"
            ).fetchone()
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
            self._db.execute("UPDATE meta SET value = value + 1 WHERE key = 'dropped_batches'")
            self._db.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped_obs'", (n_obs,))
            self._bytes -= length
            self._depth -= 1

    def pending(self, after: int = -1, limit: int = 100) -> list[StoredBatch]:
        """Stored messages with ids above ``after``, oldest first."""
        try:
            rows = self._db.execute(
                "SELECT id, batch, n_obs, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        except sqlite3.Error as e:
            raise OutboxError(self.path, f"read failed: {e}") from e
        return [StoredBatch(i, b, n, bytes(p)) for i, b, n, p in rows]

    def ack(self, ids: list[int]) -> None:
        """The broker has these: delete them (one transaction)."""
        if not ids:
            return
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            marks = ",".join("?" * len(ids))
            freed, count = db.execute(
                f"SELECT COALESCE(SUM(length(payload)), 0), COUNT(*) FROM outbox WHERE id IN ({marks})",
                ids,
            ).fetchone()
            db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", ids)
            db.execute("COMMIT")
        except sqlite3.Error as e:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise OutboxError(self.path, f"ack failed: {e}") from e
        self._bytes -= freed
        self._depth -= count

    def stats(self) -> OutboxStats:
        dropped_obs = self._meta("dropped_obs")
        return OutboxStats(
            depth=self._depth,
            bytes=self._bytes,
            dropped_batches=self._meta("dropped_batches"),
            dropped_obs=dropped_obs,
            dropped_obs_this_boot=dropped_obs - self._dropped_obs_at_open,
            next_batch=self._next_batch,
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

    async def ack(self, ids: list[int]) -> None:
        await self._run(self.outbox.ack, ids)

    async def stats(self) -> OutboxStats:
        return await self._run(self.outbox.stats)
