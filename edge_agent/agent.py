"""The agent runtime: sources -> privacy -> batches -> outbox -> uplink, under one TaskGroup.

Task tree (every task named, every one owned by a TaskGroup, all stopped by ``stop``):

    agent
    ├── produce                      cancelled first on stop; stores its open batch on the way out
    │   ├── capture:<source>         one per sighting source
    │   ├── gps:<source>             fixes into the track
    │   └── batch-timer              closes a batch that waited batch_max_age_s
    └── uplink                       connect / backoff loop; per connection a session:
        ├── heartbeat                every heartbeat_s (woken early when the cloud changes it)
        ├── telemetry                outbox -> QoS 1 publishes, a window at a time; delete on PUBACK
        └── downlink                 config/desired (apply or reject, then report), cmd replies

Shutdown (SIGTERM/SIGINT): sources stop, the open batch is stored, the session publishes a retained
offline status and disconnects; whatever the broker has not acknowledged stays in the outbox for the
next start.
"""

from __future__ import annotations

import asyncio
import platform
import time
from pathlib import Path

import structlog

import edge_agent
from edge_agent.config import AgentConfig, Tunables
from edge_agent.envelopes import Envelopes
from edge_agent.exceptions import ConfigError
from edge_agent.gps import FixSource, Track
from edge_agent.heartbeat import Health
from edge_agent.observations import Batch, Observer
from edge_agent.outbox import AsyncOutbox
from edge_agent.privacy import Keyring
from edge_agent.sources import SightingSource
from edge_agent.sources.ble import BleScanner
from edge_agent.uplink import Link, Uplink
from protocol import codec, topics
from protocol.errors import ProtocolError

log = structlog.get_logger(__name__)

_CLEAN_MARK = "clean-shutdown"


def build_sources(config: AgentConfig) -> tuple[list[SightingSource], FixSource | None]:
    """The sources the config names (imported lazily: bleak only where BLE is used)."""
    s, g = config.sources, config.gps
    sources: list[SightingSource] = []
    fixes: FixSource | None = None
    if s.pcap:
        from edge_agent.sources.pcap import PcapReplay

        sources.append(PcapReplay(s.pcap.path, speed=s.pcap.speed, rebase=s.pcap.rebase))
    if s.monitor:
        from edge_agent.sources.monitor import MonitorInterface

        sources.append(MonitorInterface(s.monitor.interface))
    if s.ble:
        t = config.tunables
        sources.append(BleScanner(s.ble.adapter, scan_s=t.ble_scan_s, idle_s=t.ble_idle_s))
    if s.simulate:
        from edge_agent.sources.simulate import Simulation

        sim = Simulation(
            seed=s.simulate.seed,
            speed=s.simulate.speed,
            duration_s=s.simulate.duration_s,
            arrivals_per_min=s.simulate.arrivals_per_min,
        )
        sources.append(sim)
        fixes = sim
    if g.gpsd:
        from edge_agent.gps.gpsd import GpsdClient

        host, _, port = g.gpsd.rpartition(":")
        fixes = GpsdClient(host or "127.0.0.1", int(port or 2947))
    elif g.nmea:
        from edge_agent.gps.nmea import NmeaSerial

        fixes = NmeaSerial(g.nmea, baud=g.nmea_baud)
    return sources, fixes


class Agent:
    """One running agent. ``run(stop)`` returns after a clean shutdown."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.baseline = config.tunables
        self.tunables = config.tunables
        self.config_version: int | None = None
        self.envelopes = Envelopes(config.device_id)
        self.keyring = Keyring(config.fleet_key, self.tunables.rotation_s)
        self.observer = Observer(self.keyring, self.tunables.rssi_floor, config.infra_addresses)
        self.track = Track()
        self.sources, self.fix_source = build_sources(config)
        self.uplink = Uplink(config.mqtt, config.device_id, self._will)
        self.started = time.monotonic()
        self._batch = Batch()
        self._batch_lock = asyncio.Lock()
        self._stored = asyncio.Event()
        self._tunables_changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._outbox: AsyncOutbox | None = None
        self._reset_reason = self._previous_exit()

    # -- lifecycle -------------------------------------------------------------------------------
    def _previous_exit(self) -> str:
        mark = Path(self.config.data_dir) / _CLEAN_MARK
        Path(self.config.data_dir).mkdir(parents=True, exist_ok=True)
        clean = mark.exists()
        mark.unlink(missing_ok=True)
        return "clean" if clean else "crash"

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.config
        log.info(
            "agent.start", device=cfg.device_id, boot=self.envelopes.boot, previous_exit=self._reset_reason
        )
        async with AsyncOutbox(cfg.outbox_path, int(cfg.outbox_max_mb * 1024 * 1024)) as outbox:
            self._outbox = outbox
            async with asyncio.TaskGroup() as tg:
                producer = tg.create_task(self._produce(), name="produce")
                uplink = tg.create_task(self.uplink.run(self._session), name="uplink")
                await stop.wait()
                log.info("agent.stopping")
                producer.cancel()
                await asyncio.wait([producer])
                self._closing.set()
                try:
                    async with asyncio.timeout(5):
                        await asyncio.shield(uplink)
                except TimeoutError:
                    uplink.cancel()
        (Path(cfg.data_dir) / _CLEAN_MARK).touch()
        log.info("agent.stopped")

    # -- production ------------------------------------------------------------------------------
    async def _produce(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                for source in self.sources:
                    tg.create_task(self._capture(source), name=f"capture:{source.name}")
                if self.fix_source is not None:
                    tg.create_task(self._follow(self.fix_source), name=f"gps:{self.fix_source.name}")
                tg.create_task(self._batch_timer(), name="batch-timer")
        finally:
            await self._close_batch()

    async def _capture(self, source: SightingSource) -> None:
        observe = self.observer.observe
        loop = asyncio.get_running_loop()
        async for sighting in source.sightings():
            obs = observe(sighting)
            if obs is None:
                continue
            if not self._batch.accepts(obs):
                await self._close_batch()
            self._batch.add(obs, loop.time())
            if len(self._batch) >= self.tunables.batch_size:
                await self._close_batch()
        log.info("agent.source_ended", source=source.name)

    async def _follow(self, source: FixSource) -> None:
        async for fix in source.fixes():
            self.track.add(fix)

    async def _batch_timer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.5)
            opened = self._batch.opened_at
            if opened is not None and loop.time() - opened >= self.tunables.batch_max_age_s:
                await self._close_batch()

    async def _close_batch(self) -> None:
        """Store the open batch in the outbox (numbered and enveloped there) and wake the sender."""
        async with self._batch_lock:
            batch, self._batch = self._batch, Batch()
            if not len(batch) or self._outbox is None:
                return
            body = batch.body(self.track, self.tunables.fix_max_gap_s * 1000)
            envelopes = self.envelopes

            def build(number: int) -> bytes:
                return envelopes.encode(topics.CHANNEL_TYPE[topics.TELEMETRY], {"batch": number, **body})

            number = await self._outbox.append(len(batch), build, time.time_ns() // 1_000_000)
        # The producer's record of what it owes the cloud (end-to-end tests read it from the log).
        log.debug("batch.stored", boot=envelopes.boot, batch=number, obs=len(batch))
        self._stored.set()

    # -- the link --------------------------------------------------------------------------------
    def _will(self) -> bytes:
        return self.envelopes.encode("status", {"state": "offline", "reason": "connection_lost"})

    async def _session(self, link: Link) -> None:
        """One connection, in SPEC §1's order: subscribe, online, hello, then heartbeats and outbox."""
        env = self.envelopes
        await link.subscribe_downlink()
        await link.publish(topics.STATUS, env.encode("status", {"state": "online"}), retain=True)
        await link.publish(topics.HELLO, env.encode("hello", self._hello()))
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(self._heartbeats(link), name="heartbeat"),
                tg.create_task(self._telemetry(link), name="telemetry"),
                tg.create_task(self._downlink(link), name="downlink"),
            ]
            await self._closing.wait()
            for task in tasks:
                task.cancel()
        await link.publish(
            topics.STATUS, env.encode("status", {"state": "offline", "reason": "shutdown"}), retain=True
        )

    def _hello(self) -> dict:
        s = self.config.sources
        caps = [name for name, on in (
            ("wifi", s.pcap or s.monitor or s.simulate),
            ("ble", s.ble or s.simulate),
            ("gps", self.fix_source is not None),
            ("cmd", True),
            ("store", True),
        ) if on]  # fmt: skip
        body: dict = {
            "hw": self.config.hw,
            "fw": edge_agent.__version__,
            "heartbeat_s": self.tunables.heartbeat_s,
            "caps": caps,
            "versions": {"agent": edge_agent.__version__, "python": platform.python_version()},
            "reset": self._reset_reason,
        }
        if self.config_version is not None:
            body["config_version"] = self.config_version
        return body

    async def _heartbeats(self, link: Link) -> None:
        assert self._outbox is not None
        while True:
            stats = await self._outbox.stats()
            health = Health(
                uptime_s=int(time.monotonic() - self.started),
                interval_s=self.tunables.heartbeat_s,
                outbox_depth=stats.depth,
                dropped_obs=stats.dropped_obs_this_boot,
                fix=self.track.latest,
                fw=edge_agent.__version__,
                config_version=self.config_version,
            )
            await link.publish(
                topics.HEARTBEAT, self.envelopes.encode("heartbeat", health.body(self.config.data_dir))
            )
            self._tunables_changed.clear()
            try:
                async with asyncio.timeout(self.tunables.heartbeat_s):
                    await self._tunables_changed.wait()
            except TimeoutError:
                pass

    async def _telemetry(self, link: Link) -> None:
        """Send stored batches oldest first, ``window`` in flight; delete each window on its PUBACKs.
        A new connection starts again from the oldest unacknowledged batch."""
        assert self._outbox is not None
        outbox = self._outbox
        window = self.config.mqtt.window
        after = -1
        while True:
            self._stored.clear()
            pending = await outbox.pending(after=after, limit=window)
            if not pending:
                await self._stored.wait()
                continue
            async with asyncio.TaskGroup() as tg:
                for stored in pending:
                    tg.create_task(
                        link.publish(topics.TELEMETRY, stored.payload), name=f"publish:{stored.id}"
                    )
            await outbox.ack([s.id for s in pending])
            after = pending[-1].id

    async def _downlink(self, link: Link) -> None:
        async for topic, payload in link.messages():
            try:
                msg = codec.decode(payload, topic)
            except ProtocolError as e:
                log.warning("downlink.rejected", topic=topic, code=e.code, reason=e.reason)
                continue
            if msg.type == "config_desired":
                report = self.apply(msg.body)
                if report is not None:
                    await link.publish(
                        topics.CONFIG_REPORTED, self.envelopes.encode("config_reported", report)
                    )
            elif msg.type == "cmd":
                reply = {"id": msg.body["id"], "status": "unsupported"}
                await link.publish(topics.CMD_REPLY, self.envelopes.encode("cmd_reply", reply))
            elif msg.type == "error":
                log.warning(
                    "downlink.error",
                    **{k: v for k, v in msg.body.items() if k in ("code", "reason", "field")},
                )
            else:
                log.info("downlink.ignored", type=msg.type)

    # -- cloud configuration ---------------------------------------------------------------------
    def apply(self, desired: dict) -> dict | None:
        """Apply a desired config over the file's baseline; returns the config_reported body, or
        None for a version not newer than the one applied (SPEC §5.4: the retained desired config
        comes again on every reconnect). Invalid: nothing changes and the report carries the reason.

        The desired config is the whole configuration (SPEC §5.4); settings it leaves out take the
        value of agent.toml, and a setting this agent does not know rejects it (a typo must not pass
        for applied)."""
        version = desired["version"]
        if self.config_version is not None and version <= self.config_version:
            return None
        try:
            new = self.baseline.with_overrides(desired["config"])
        except ConfigError as e:
            log.warning("config.rejected", version=version, field=e.field, reason=e.reason)
            return {
                "version": version,
                "config": self.tunables.as_dict(),
                "error": {"code": "invalid_config", "reason": f"{e.field}: {e.reason}"[:200]},
            }
        self._use(new)
        self.config_version = version
        log.info("config.applied", version=version, **new.as_dict())
        return {"version": version, "config": new.as_dict()}

    def _use(self, new: Tunables) -> None:
        self.tunables = new
        self.observer.rssi_floor = new.rssi_floor
        self.keyring.rotation_s = new.rotation_s
        for source in self.sources:
            if isinstance(source, BleScanner):
                source.scan_s, source.idle_s = new.ble_scan_s, new.ble_idle_s
        self._tunables_changed.set()
