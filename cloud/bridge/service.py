"""The bridge: device messages in, one transaction per flush, acknowledgements after COMMIT.

Tasks, all owned by one TaskGroup per connection:

* ``bridge.receive`` watches the connection; every arriving message is appended to the pending
  flush as paho decodes it (`Link`'s `deliver`);
* ``bridge.decode`` takes the pending flush when it is full or `flush_interval_ms` old and decodes
  and sorts it in a worker thread, then hands it to ``bridge.write`` through a one-slot queue;
* ``bridge.write`` writes each sorted flush in another worker thread (one transaction), then
  acknowledges its QoS 1 messages and publishes error replies;
* ``bridge.sweep`` runs the presence sweeper, the heartbeat-sample retention and the desired-config
  outbox every `sweep_interval_s`.

The two stages are a pipeline: flush N+1 is decoded (Python, holding the GIL) while flush N waits
on the database (another process, another core). Flushes are written, committed and acknowledged
in arrival order, one at a time, so the ingest store sees each device's batches in the order the
broker delivered them, exactly as without the pipeline; the one-slot queue bounds what is held.

A dropped connection ends the TaskGroup; the loop reconnects with jittered, capped backoff, and the
broker redelivers whatever was not acknowledged. On stop, the pending flush is written and
acknowledged before the client disconnects.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import aiomqtt
import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from cloud.bridge.apply import apply_flush
from cloud.bridge.inbox import Flush, sort
from cloud.bridge.mqtt import ConnectionState, Link, Tls, connect
from cloud.core.config import Settings
from cloud.core.types import utcnow
from cloud.exceptions import BrokerUnavailableError
from cloud.ingest.store import prepare_copy
from cloud.observability import metrics
from cloud.presence.rules import Policy
from cloud.presence.service import sweep_once
from cloud.registry import heartbeats
from cloud.rollouts import service as rollouts
from cloud.shadow.service import desired_message, unpublished
from protocol import subscriptions

log = structlog.get_logger("cloud.bridge")


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeConfig:
    host: str
    port: int
    client_id: str = "mobilytics-cloud"
    flush_max_messages: int = 1000
    flush_interval_ms: int = 20
    sweep_interval_s: float = 0.5
    policy: Policy = field(default_factory=Policy)
    rollups: bool = True  # fold telemetry into the audience rollups in the flush transaction
    tls: Tls | None = None
    heartbeat_keep: timedelta = heartbeats.KEEP  # heartbeat samples older than this are pruned

    @classmethod
    def from_settings(cls, s: Settings) -> BridgeConfig:
        host, port, tls = s.broker_host_port
        if tls and s.identity_dir:
            from cloud.identity.directory import IdentityDir

            ident = IdentityDir(Path(s.identity_dir))
            link_tls: Tls | None = Tls(ca=ident.ca_file, cert=ident.cloud_cert, key=ident.cloud_key)
        else:
            link_tls = Tls() if tls else None
        return cls(
            host=host,
            port=port,
            tls=link_tls,
            client_id=s.client_id,
            flush_max_messages=s.flush_max_messages,
            flush_interval_ms=s.flush_interval_ms,
            sweep_interval_s=s.sweep_interval_s,
            policy=s.presence_policy,
            heartbeat_keep=timedelta(days=s.heartbeat_keep_days),
        )


@dataclass(frozen=True, slots=True)
class _Sorted:
    """A decoded flush on its way to the database, with the messages it acknowledges once committed."""

    messages: list[aiomqtt.Message]
    flush: Flush
    now: datetime


class Bridge:
    def __init__(self, engine: Engine, config: BridgeConfig) -> None:
        self.engine = engine
        self.config = config
        self.state = ConnectionState.DISCONNECTED
        self.ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._pending: list[aiomqtt.Message] = []
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._receiving = False
        self._generation = 0

    def stop(self) -> None:
        """Ask the bridge to write what it holds, acknowledge it and disconnect."""
        self._stop.set()

    async def run(self) -> None:
        delay = 0.25
        while not self._stop.is_set():
            self.state = ConnectionState.CONNECTING
            lost: BrokerUnavailableError | None = None
            try:
                self._generation += 1
                self._pending = []
                self._receiving = True  # from the first message, which may come while subscribing
                async with connect(
                    self.config.host,
                    self.config.port,
                    client_id=self.config.client_id,
                    generation=self._generation,
                    tls=self.config.tls,
                    deliver=self._arrive,
                ) as link:
                    for f in subscriptions.subscription(subscriptions.CLOUD):
                        await link.client.subscribe(f, qos=1)
                    self.state = ConnectionState.CONNECTED
                    log.info("bridge.connected", host=self.config.host, port=self.config.port)
                    delay = 0.25
                    self.ready.set()
                    await self._serve(link)
            except* BrokerUnavailableError as group:
                lost = _first(group)
            self.state = ConnectionState.DISCONNECTED
            if lost is not None and not self._stop.is_set():
                wait = delay * (0.5 + random.random())
                log.warning("bridge.disconnected", reason=lost.reason, retry_in=round(wait, 2))
                await asyncio.sleep(wait)
                delay = min(delay * 2, 10.0)
        self.state = ConnectionState.DISCONNECTED

    async def _serve(self, link: Link) -> None:
        sorted_flushes: asyncio.Queue[_Sorted | None] = asyncio.Queue(maxsize=1)
        async with asyncio.TaskGroup() as tg:
            receive = tg.create_task(self._receive(link), name="bridge.receive")
            tg.create_task(self._decode(receive, sorted_flushes), name="bridge.decode")
            tg.create_task(self._write(link, sorted_flushes), name="bridge.write")
            sweep = tg.create_task(self._sweep(link), name="bridge.sweep")
            await self._stop.wait()
            receive.cancel()
            sweep.cancel()

    async def _receive(self, link: Link) -> None:
        try:
            await link.lost()
        finally:
            self._receiving = False

    def _arrive(self, message: aiomqtt.Message) -> None:
        # Once receiving has stopped, a message stays unacknowledged: the broker redelivers it.
        if self._receiving:
            self._pending.append(message)
            self._arrived.set()
            if len(self._pending) >= self.config.flush_max_messages:
                self._full.set()

    async def _decode(self, receive: asyncio.Task[None], out: asyncio.Queue[_Sorted | None]) -> None:
        """Stage 1: cut the pending messages into flushes and decode them; None ends the stream."""
        interval = self.config.flush_interval_ms / 1000
        while True:
            if not self._pending:
                if receive.done():
                    await out.put(None)  # stopping, and everything received is decoded
                    return
                self._arrived.clear()
                waiter = asyncio.ensure_future(self._arrived.wait())
                await asyncio.wait({waiter, receive}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                continue
            if len(self._pending) < self.config.flush_max_messages and not receive.done():
                self._full.clear()
                try:
                    async with asyncio.timeout(interval):
                        await self._full.wait()
                except TimeoutError:
                    pass
            # At most flush_max_messages: after a backlog, one giant flush would leave nothing for
            # the other stage to overlap with (and hold all of it in memory at once).
            cut = self.config.flush_max_messages
            batch, self._pending = self._pending[:cut], self._pending[cut:]
            raw = [(str(m.topic), bytes(m.payload)) for m in batch]
            now = utcnow()
            flush = await asyncio.to_thread(self._sort, raw, now)
            await out.put(_Sorted(batch, flush, now))

    def _sort(self, raw: list[tuple[str, bytes]], now: datetime) -> Flush:
        """Decode a flush and, for PostgreSQL, format its COPY data ahead."""
        flush = sort(raw, now=now)
        if self.engine.dialect.name == "postgresql":
            flush.batches = prepare_copy(flush.batches)
        return flush

    async def _write(self, link: Link, flushes: asyncio.Queue[_Sorted | None]) -> None:
        """Stage 2: write each decoded flush in one transaction, then acknowledge it."""
        while (item := await flushes.get()) is not None:
            await self._flush(link, item)

    async def _flush(self, link: Link, item: _Sorted) -> None:
        delay = 0.1
        while True:
            started = time.perf_counter()
            try:
                await asyncio.to_thread(
                    apply_flush,
                    self.engine,
                    item.flush,
                    policy=self.config.policy,
                    now=item.now,
                    rollups=self.config.rollups,
                )
                break
            except OperationalError as e:  # database away: keep the messages unacknowledged and retry
                log.error("bridge.flush_failed", error=str(e).splitlines()[0], retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        metrics.FLUSH_SECONDS.observe(time.perf_counter() - started)
        metrics.FLUSH_MESSAGES.observe(len(item.messages))
        if link.generation == self._generation:
            for m in item.messages:
                link.ack(m)
        for r in item.flush.replies:
            await link.publish(r.topic, r.payload, qos=1)

    async def _sweep(self, link: Link) -> None:
        # The stop cancels this task; the loop also ends on the stop itself, so a cancellation
        # swallowed below (a library's asyncio.wait_for on Python 3.11, gh-86296) cannot keep the
        # TaskGroup, and the stop, waiting on it forever.
        while not self._stop.is_set():
            await asyncio.sleep(self.config.sweep_interval_s)
            messages = await asyncio.to_thread(self._sweep_once)
            for topic, payload, shadow_key in messages:
                await link.publish(topic, payload, qos=1, retain=True)
                await asyncio.to_thread(self._mark_published, *shadow_key)
            await self._rollouts(link)

    async def _rollouts(self, link: Link) -> None:
        """Tick running deployments, then drain the ota/offer outbox (retained; empty = withdrawn)."""
        offers = await asyncio.to_thread(self._rollouts_once)
        done = []
        for job_id, new_state, topic, payload in offers:
            await link.publish(topic, payload, qos=1, retain=True)
            done.append((job_id, new_state))
        if done:
            await asyncio.to_thread(self._mark_offers, done)

    def _rollouts_once(self) -> list[tuple[int, str, str, bytes]]:
        now = utcnow()
        with Session(self.engine) as session:
            rollouts.tick_due(session, now)
            session.commit()
        with Session(self.engine) as session:
            offers = rollouts.offers_due(session, now=now)
            session.rollback()
        return offers

    def _mark_offers(self, done: list[tuple[int, str]]) -> None:
        with Session(self.engine) as session:
            rollouts.mark_offers(session, done)
            session.commit()

    def _sweep_once(self) -> list[tuple[str, bytes, tuple[str, int]]]:
        now = utcnow()
        with Session(self.engine) as session:
            result = sweep_once(session, policy=self.config.policy, now=now)
            session.commit()
        with Session(self.engine) as session:  # retention, a bounded delete per tick
            heartbeats.prune(session, now=now, keep=self.config.heartbeat_keep)
            session.commit()
        for _, t in result.transitions:
            metrics.TRANSITIONS.labels(t.to_status, t.reason).inc()
        with Session(self.engine) as session:
            out = []
            for shadow in unpublished(session):
                topic, payload = desired_message(shadow, now)
                out.append((topic, payload, (shadow.device_id, shadow.desired_version)))
            session.rollback()
        return out

    def _mark_published(self, device_id: str, version: int) -> None:
        from cloud.shadow.models import ConfigShadow

        with Session(self.engine) as session:
            shadow = session.get(ConfigShadow, device_id)
            if shadow is not None and shadow.published_version < version:
                shadow.published_version = version
                session.add(shadow)
                session.commit()


def _first(group: BaseExceptionGroup[BrokerUnavailableError]) -> BrokerUnavailableError:
    e: BaseException = group
    while isinstance(e, BaseExceptionGroup):
        e = e.exceptions[0]
    assert isinstance(e, BrokerUnavailableError)
    return e


async def run_bridge(engine: Engine, config: BridgeConfig, *, ready: asyncio.Event | None = None) -> None:
    """Run a bridge until cancelled (the foundation's entry point; `Bridge` gives a clean stop)."""
    bridge = Bridge(engine, config)
    if ready is not None:
        bridge.ready = ready
    await bridge.run()
