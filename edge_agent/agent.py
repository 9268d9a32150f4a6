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
        ├── ota-status               the durable ota/status log -> QoS 1 publishes, in order
        └── downlink                 config/desired (apply or reject, then report), cmd replies,
                                     ota/offer (queued for the updates task)
    updates (with an [ota] table)    one offer at a time through edge_agent/ota/updater.py (in a
                                     thread); "rebooting" stops the agent with exit code RESTART
    self-test (after an update)      connected + heartbeat + telemetry of this boot before the
                                     deadline -> confirm; else back to the good version and RESTART

Updates (SPEC §5.5, ota/SPEC.md): the process runs the release ``<ota.root>/current`` points at (the
launcher, edge_agent/launcher.py, starts it there and restarts it on exit). Every start first runs
the boot check; if that sent ``current`` back to ``good`` while this process runs the other
release's code, it exits RESTART at once.

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
from edge_agent.config import AgentConfig, OtaConfig, Tunables
from edge_agent.envelopes import Envelopes
from edge_agent.exceptions import ConfigError
from edge_agent.gps import FixSource, Track
from edge_agent.heartbeat import Health
from edge_agent.observations import Batch, Observer
from edge_agent.ota.status import StatusLog
from edge_agent.ota.updater import Updater
from edge_agent.outbox import AsyncOutbox
from edge_agent.privacy import Keyring
from edge_agent.sources import SightingSource
from edge_agent.sources.ble import BleScanner
from edge_agent.uplink import Link, Uplink
from protocol import codec, topics
from protocol.errors import ProtocolError

log = structlog.get_logger(__name__)

_CLEAN_MARK = "clean-shutdown"
RESTART = 75  # exit code asking the launcher (or systemd's Restart=) to start the agent again


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
        self.exit_code = 0
        self._stop: asyncio.Event | None = None
        self._heartbeat_sent = asyncio.Event()
        self._telemetry_acked = asyncio.Event()
        self._offers: asyncio.Queue[dict] = asyncio.Queue()
        self._status_ready = asyncio.Event()
        self.updater: Updater | None = None
        self.release: int | None = None  # the release this process runs, with OTA on
        self._confirming: tuple[str, float] | None = None  # (job, deadline) of this boot's self-test
        if config.ota is not None:
            self._setup_updates(config.ota)

    # -- lifecycle -------------------------------------------------------------------------------
    def _previous_exit(self) -> str:
        mark = Path(self.config.data_dir) / _CLEAN_MARK
        Path(self.config.data_dir).mkdir(parents=True, exist_ok=True)
        clean = mark.exists()
        mark.unlink(missing_ok=True)
        return "clean" if clean else "crash"

    def _setup_updates(self, ota: OtaConfig) -> None:
        root = Path(ota.root)
        self.status_log = StatusLog(root / "status.jsonl")
        try:
            trusted = Path(ota.trusted_root).read_bytes()
        except OSError as e:
            raise ConfigError("ota.trusted_root", f"cannot read {ota.trusted_root}: {e.strerror}") from e
        self.updater = Updater(
            root,
            trusted_root=trusted,
            hardware=self.config.hw,
            model=ota.model,
            report=self._ota_report,
            self_test_s=ota.self_test_s,
        )
        outcome = self.updater.boot()
        self.release = self.updater.slots.current
        running = self.updater.slots.version_of(Path(edge_agent.__file__))
        if running is not None and running != self.release:
            log.warning("ota.wrong_release", running=running, current=self.release, outcome=outcome.state)
            self.exit_code = RESTART  # run() returns at once: the launcher starts `current`
        elif outcome.state == "confirming":
            assert outcome.job is not None
            assert outcome.deadline is not None
            self._confirming = (outcome.job, outcome.deadline)

    def _ota_report(self, job: str, state: str, **extra: object) -> None:
        """Updater's report: logged durably, then published by the session (any thread)."""
        self.status_log.append({"job": job, "state": state, **extra})
        try:
            asyncio.get_running_loop()
            self._status_ready.set()
        except RuntimeError:  # the updater's worker thread
            self._loop.call_soon_threadsafe(self._status_ready.set)

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.config
        self._stop = stop
        self._loop = asyncio.get_running_loop()
        if self.exit_code == RESTART:
            return
        log.info(
            "agent.start", device=cfg.device_id, boot=self.envelopes.boot, previous_exit=self._reset_reason
        )
        async with AsyncOutbox(cfg.outbox_path, int(cfg.outbox_max_mb * 1024 * 1024)) as outbox:
            self._outbox = outbox
            async with asyncio.TaskGroup() as tg:
                producer = tg.create_task(self._produce(), name="produce")
                uplink = tg.create_task(self.uplink.run(self._session), name="uplink")
                side = []
                if self.updater is not None:
                    side.append(tg.create_task(self._updates(), name="updates"))
                if self._confirming is not None:
                    side.append(tg.create_task(self._self_test(*self._confirming), name="self-test"))
                await stop.wait()
                log.info("agent.stopping", exit_code=self.exit_code)
                for task in side:
                    task.cancel()
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
            if self.updater is not None:
                tasks.append(tg.create_task(self._ota_status(link), name="ota-status"))
            await self._closing.wait()
            for task in tasks:
                task.cancel()
        if self.updater is not None:
            await self._publish_ota_status(link)  # "rebooting" goes out before the restart
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
            ("ota", self.updater is not None),
        ) if on]  # fmt: skip
        body: dict = {
            "hw": self.config.hw,
            "fw": self.fw,
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
                fw=self.fw,
                config_version=self.config_version,
            )
            await link.publish(
                topics.HEARTBEAT, self.envelopes.encode("heartbeat", health.body(self.config.data_dir))
            )
            self._heartbeat_sent.set()
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
            boot = self.envelopes.boot.encode()
            if not self._telemetry_acked.is_set() and any(boot in b.payload for b in pending):
                self._telemetry_acked.set()  # telemetry of this boot (its envelope's boot id) is acked

    @property
    def fw(self) -> str:
        """The version in hello and heartbeats: the release number with OTA, else the package's."""
        return str(self.release) if self.release is not None else edge_agent.__version__

    async def _downlink(self, link: Link) -> None:
        async for topic, payload in link.messages():
            if not payload and topic.endswith("/" + topics.OTA_OFFER):
                continue  # the cloud withdrew a retained offer (SPEC §5.5)
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
            elif msg.type == "ota_offer":
                if self.updater is None:
                    log.info("ota.offer_ignored", job=msg.body["job"], reason="no [ota] in the config")
                else:
                    self._offers.put_nowait(msg.body)
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

    # -- updates ---------------------------------------------------------------------------------
    async def _updates(self) -> None:
        """Take offers one at a time; a job that reaches ``rebooting`` restarts the agent."""
        assert self.updater is not None
        assert self._stop is not None
        while True:
            offer = await self._offers.get()
            log.info("ota.offer", job=offer["job"], version=offer["version"])
            state = await asyncio.to_thread(self.updater.take, offer)
            log.info("ota.job", job=offer["job"], state=state)
            if state == "rebooting":
                self.exit_code = RESTART
                self._stop.set()
                return

    async def _self_test(self, job: str, deadline: float) -> None:
        """This boot runs an unconfirmed release: it passes once connected, a heartbeat is out and
        telemetry of this boot is acknowledged, all before ``deadline`` (Unix seconds)."""
        assert self.updater is not None
        assert self._stop is not None
        self._ota_report(job, "confirming")
        try:
            async with asyncio.timeout(max(0.0, deadline - time.time())):
                await self._heartbeat_sent.wait()
                await self._telemetry_acked.wait()
            passed = True
        except TimeoutError:
            passed = False
        state = await asyncio.to_thread(self.updater.conclude, job, deadline, passed)
        log.info("ota.self_test", job=job, passed=passed, state=state)
        if state == "rolled-back":
            self.exit_code = RESTART
            self._stop.set()

    async def _publish_ota_status(self, link: Link) -> None:
        bodies = self.status_log.pending()
        for body in bodies:
            await link.publish(topics.OTA_STATUS, self.envelopes.encode("ota_status", body))
        if bodies:
            self.status_log.drop(len(bodies))

    async def _ota_status(self, link: Link) -> None:
        while True:
            self._status_ready.clear()
            await self._publish_ota_status(link)
            await self._status_ready.wait()

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
