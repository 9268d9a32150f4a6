# The sensor node: one asyncio task per feature, all started and owned by
# Node.run() (sense: BLE scan windows -> batches -> outbox; locate: GPS;
# uplink: the MQTT connection; watch: watchdog and heap).
#
# Delivery (protocol/SPEC.md 4): a closed batch is encoded (its boot, seq
# and batch number fixed then) and written to the flash outbox before any
# attempt to send it; it leaves the outbox only when the broker's PUBACK
# arrives. A reset or a lost connection re-sends the identical bytes, and
# the cloud dedups on (device, boot, seq). An open batch (not yet closed)
# is lost at a power cut; a commanded reboot closes it first.
import asyncio
import asyncio.event  # asyncio loads these three on first use: loaded here,
import asyncio.funcs  # at boot with the rest, in a heap still in one piece
import asyncio.stream
import gc
import json
import sys
import time

import ble
import commands
import flash
import gps
import hal
import identity
import mqtt
import privacy
import shadow
import telemetry
from envelope import Envelopes, new_boot_id
from micropython import const
from outbox import Outbox
from version import VERSION

from protocol import codec, downlink, topics
from protocol.errors import ProtocolError

# Connection states (the uplink's).
_WAIT_WIFI = const(0)
_CONNECTING = const(1)
_CONNECTED = const(2)
_BACKOFF = const(3)

_WDT_MS = const(60000)
_IDLE_MS = const(100)
_MAX_CMDS = const(4)  # commands waiting to run; more are refused
_CAPS = ("ble", "gps", "store", "cmd")
# Nothing loads later than boot: codec would load the downlink checks at
# the first downlink message, into a heap by then in small pieces.
_ = downlink


def log(*args):
    print("mob:", *args)


class Node:
    def __init__(self, ident, tel, out, test):
        # Messages are sealed and sent from two buffers that main.py
        # allocates before anything is loaded, while the heap is in one
        # piece (a running node's heap soon has no free piece that big).
        # tel: the open batch's rows, sealed in place (telemetry.Batch) and
        # stored at once; _out: everything the uplink seals or reads from
        # the outbox, held while it awaits the send.
        self._tel = tel
        self._out = out
        self.ident = ident
        self.reset_cause = hal.reset_cause()
        self.env = Envelopes(ident.device_id, new_boot_id(), self._ts)
        self.config = shadow.Shadow()
        self.cmds = commands.Commands()
        self.outbox = Outbox("outbox", ident.outbox_max)
        self.hasher = privacy.Hasher(ident.fleet_key, self.config["rotation_s"])
        self.gps = gps.Parser(time.ticks_ms, time.ticks_diff)
        self.batch = telemetry.Batch(self.config["batch_max"], tel)
        self.batch_no = 0  # contiguous from 0 within this boot
        self.batch_opened = None
        self.batch_period = None
        self.wifi = hal.Wifi()
        self.state = _WAIT_WIFI
        self.started = time.ticks_ms()
        self.heap_min_free = 1 << 30  # both sampled right after gc.collect() (watch, batches)
        self.heap_peak = 0
        self.sent = 0  # telemetry messages acknowledged this boot
        self._desired = None  # the latest config/desired payload (one kept)
        self._cmds = []  # command payloads waiting, at most _MAX_CMDS
        self._flush = False
        self._t_desired = self.topic(topics.CONFIG_DESIRED)
        self._t_cmd = self.topic(topics.CMD)
        self._t_error = self.topic(topics.ERROR)
        # OTA: the deadline (ticks_ms) of this image's self-test when this is
        # an update's first boot (otajob.py, run by main.py), else None; and
        # the latest offer.
        self.test = test
        if test is not None:
            import esp32  # the OTA slots, for _confirm: loaded at boot (on the host it is not C)

            self.partition = esp32.Partition
        self._offer = None

    def topic(self, channel):
        return topics.topic(self.ident.device_id, channel)

    def _ts(self):
        # Envelope ts: 0 means "clock not set yet" (SPEC 4).
        return hal.now_ms() if hal.clock_ok() else 0

    def _heap(self):
        # Sampled right after gc.collect(): live data, not garbage.
        free = gc.mem_free()
        used = gc.mem_alloc()
        if free < self.heap_min_free:
            self.heap_min_free = free
        if used > self.heap_peak:
            self.heap_peak = used

    # -- sense: BLE windows -> observations -> batches in the outbox --------

    async def sense(self):
        window = ble.Window()
        scanner = hal.Scanner(window.on_adv, window.on_done)
        while True:
            if not hal.clock_ok():
                await asyncio.sleep_ms(1000)  # no telemetry without wall-clock time
                continue
            window.start()
            t_start = hal.now_ms()
            scan_ms = self.config["scan_ms"]
            scanner.start(scan_ms)
            t = time.ticks_ms()
            while not window.done:
                await asyncio.sleep_ms(50)
                if time.ticks_diff(time.ticks_ms(), t) > scan_ms + 2000:
                    scanner.stop()  # no _IRQ_SCAN_DONE: don't wait forever
                    break
            self._observe(window, t_start)
            if len(self.batch) and (
                self._flush
                or self.batch.full()
                or time.ticks_diff(time.ticks_ms(), self.batch_opened) >= self.config["batch_s"] * 1000
            ):
                self._close_batch()
            self._flush = False

    def _observe(self, window, t_start):
        now_ms = hal.now_ms()
        now_t = time.ticks_ms()
        floor = self.config["rssi_floor"]
        rotation_ms = self.config["rotation_s"] * 1000
        lat, lon = self.gps.position()
        self.outbox.dropped += window.overflow  # sightings the full table refused
        window.overflow = 0
        for addr, addr_type, rssi, seen_t in window.drain():
            if rssi < floor:
                continue
            ts = now_ms - time.ticks_diff(now_t, seen_t)
            period = ts // rotation_ms
            if self.batch_period != period or self.batch.full():
                self._close_batch()  # one key period per batch, bounded size
                self.batch_period = period
            if self.batch_opened is None:
                self.batch_opened = now_t
                self.batch.start(min(t_start, ts))
            hid = self.hasher.hid(addr, ts // 1000)
            self.batch.add(ts, telemetry.KIND_BLE, hid, rssi, privacy.randomized(addr_type, addr), lat, lon)

    def _close_batch(self):
        if not len(self.batch):
            return
        g = self.gps
        fix = None
        if g.position()[0] is not None:
            fix = ((0, g.lat_e6, g.lon_e6, g.speed_cm_s, g.quality),)
        data = None
        try:
            data = self.batch.seal(self.env, self.batch_no, fix)
        except MemoryError:
            pass
        n = len(self.batch)
        if data is None:
            self.outbox.dropped += n  # counted, never silent
            log("batch", self.batch_no, "dropped: out of memory")
        else:
            self.outbox.push(data, n)
            data = None
            log("batch", self.batch_no, "obs", n)
            self.batch_no += 1
        if self.batch.max_obs != self.config["batch_max"]:
            self.batch = telemetry.Batch(self.config["batch_max"], self._tel)
        else:
            self.batch.clear()
        self.batch_opened = None
        gc.collect()
        self._heap()

    # -- locate: GPS sentences from the UART --------------------------------

    async def locate(self):
        uart = hal.gps_uart()
        while True:
            while uart.any():
                line = uart.readline()
                if not line:
                    break
                self.gps.feed(line)
            if not hal.clock_ok() and self.gps.epoch_s:
                hal.set_clock(self.gps.epoch_s)  # no NTP yet: trust the satellites
            await asyncio.sleep_ms(200)

    # -- uplink: one MQTT connection at a time, reconnect with backoff ------

    def _on_message(self, topic, msg, retained):
        # Reader task context: keep the payload, act on it in the session.
        if topic == self._t_desired:
            self._desired = bytes(msg)
        elif topic == self._t_cmd:
            if len(self._cmds) < _MAX_CMDS:
                self._cmds.append(bytes(msg))
            else:
                log("command refused: queue full")
        elif topic == self.topic(topics.OTA_OFFER):
            if self.test is None:  # none is taken while a self-test runs
                self._offer = bytes(msg) or None  # empty: the offer was withdrawn
        elif topic == self._t_error:
            try:
                b = codec.decode(msg, topic).body
                log("cloud rejected a message:", b["code"], b["reason"])
            except ProtocolError as e:
                log("bad error message:", e.code)

    async def _wifi(self):
        self.state = _WAIT_WIFI
        self.wifi.connect(self.ident.ssid, self.ident.psk)
        for _ in range(100):
            if self.wifi.isconnected():
                hal.sync_clock()
                return True
            await asyncio.sleep_ms(100)
        return False

    async def uplink(self):
        backoff = mqtt.Backoff(500, 30000)
        ident = self.ident
        t_status = self.topic(topics.STATUS)
        while True:
            if not self.wifi.isconnected() and not await self._wifi():
                continue
            self.state = _CONNECTING
            _, will = self.env.seal("status", {"state": "offline", "reason": "connection_lost"}, self._out)
            will = bytes(will)  # kept by the client: _out is sealed into again below
            client = mqtt.MQTTClient(
                ident.device_id,
                ident.host,
                ident.port,
                ident.user,
                ident.password,
                ident.keepalive,
                ssl=ident.tls or None,
                will=(t_status, will, 1, True),
            )
            will = None
            client.on_message = self._on_message
            try:
                # SPEC 1: persistent session; subscribe, online, hello, then
                # heartbeats and the outbox.
                await client.connect(clean=False)
                for t in (self._t_desired, self._t_cmd, self._t_error, self.topic(topics.OTA_OFFER)):
                    await client.subscribe(t, 1)
                _, m = self.env.seal("status", {"state": "online"}, self._out)
                await client.publish(t_status, m, True, 1)
                await self._ota(client)
                v = sys.implementation.version
                _, m = self.env.seal(
                    "hello",
                    {
                        "hw": "esp32",
                        "fw": VERSION,
                        "heartbeat_s": self.config["heartbeat_s"],
                        "caps": _CAPS,
                        "versions": {"micropython": "%d.%d.%d" % (v[0], v[1], v[2])},
                        "reset": self.reset_cause,
                        "config_version": self.config.version,
                    },
                    self._out,
                )
                await client.publish(self.topic(topics.HELLO), m, False, 1)
                m = None
                self.state = _CONNECTED
                log("connected to", ident.host, ident.port)
                backoff.reset()
                await self._session(client)
            except mqtt.MQTTError as e:
                log("connection lost:", e.reason, e.code, e.pid)
            finally:
                client.close()
            self.state = _BACKOFF
            gc.collect()
            await asyncio.sleep_ms(backoff.next_ms())

    async def _session(self, client):
        next_hb = time.ticks_ms()
        t_tel = self.topic(topics.TELEMETRY)
        while True:
            if client.error is not None:
                raise client.error
            if not self.wifi.isconnected():
                raise mqtt.MQTTError("wifi lost")
            if self._desired is not None:
                await self._apply_config(client)
            if self._cmds:
                await self._command(client, self._cmds.pop(0))
            if self._offer is not None:
                await self._ota(client)
            if time.ticks_diff(time.ticks_ms(), next_hb) >= 0:
                interval = self.config["heartbeat_s"]
                _, m = self.env.seal("heartbeat", self._heartbeat(interval), self._out)
                await client.publish(self.topic(topics.HEARTBEAT), m, False, 0)
                ob = self.outbox
                # A console line for the bench and the field technician's serial log.
                log(
                    "stats heap_peak=%d heap_min_free=%d sent=%d outbox=%d dropped=%d"
                    % (self.heap_peak, self.heap_min_free, self.sent, ob.depth(), ob.dropped)
                )
                next_hb = time.ticks_add(time.ticks_ms(), interval * 1000)
                continue
            item = self.outbox.peek(self._out)
            if item is None:
                await asyncio.sleep_ms(_IDLE_MS)
                continue
            n, data = item
            item = None
            await client.publish(t_tel, data, False, 1)
            data = None
            self.outbox.ack(n)
            self.sent += 1
            if self.test is not None:
                await self._confirm(client)

    async def _ota(self, client):
        # OTA (otajob.py). An offer of a job not taken before (otadone.json)
        # is saved for main.py (otajob.json), which takes it at the next
        # boot, before the app loads. Then the statuses otajob queued
        # (otaout.jsonl) go out in order, a line at a time (at a connect,
        # before hello: the cloud reads a job's states in order); a reset
        # before the file goes sends some twice, which the cloud takes as no
        # change. Out of memory they are dropped, not retried at every boot.
        raw = self._offer
        self._offer = None
        try:
            if raw:
                b = codec.decode(raw, self.topic(topics.OTA_OFFER)).body
                if b["job"] not in flash.load("otadone.json", ()):
                    flash.save("otajob.json", {"offer": b})
                    hal.reset()
            with open("otaout.jsonl") as f:  # noqa: ASYNC230  (flash files are synchronous)
                for line in f:
                    _, m = self.env.seal("ota_status", json.loads(line), self._out)
                    await client.publish(self.topic(topics.OTA_STATUS), m, False, 1)
        except OSError:
            return  # no statuses queued
        except (ProtocolError, MemoryError, ValueError) as e:  # ValueError: a line torn by a power cut
            log("ota:", e)  # a bad offer while statuses wait drops them too
        flash.remove("otaout.jsonl")

    async def _confirm(self, client):
        # An update's self-test passed: telemetry acknowledged by the broker
        # (a session opens with its heartbeat, so one went first). The image
        # is kept (the bootloader no longer rolls it back), then `succeeded`
        # goes out from this boot, whose heartbeat and telemetry the cloud
        # saw, and the job ends. A reset before the end runs the self-test
        # again (otajob.py).
        self.partition.mark_app_valid_cancel_rollback()
        b = {"job": flash.load("otajob.json")["job"], "state": "succeeded", "version": VERSION}
        _, m = self.env.seal("ota_status", b, self._out)
        await client.publish(self.topic(topics.OTA_STATUS), m, False, 1)
        flash.remove("otajob.json")
        flash.remove("otajournal")
        self.test = None

    async def _report(self, client, body):
        _, m = self.env.seal("config_reported", body, self._out)
        await client.publish(self.topic(topics.CONFIG_REPORTED), m, False, 1)

    async def _apply_config(self, client):
        raw = self._desired
        self._desired = None
        try:
            body = self.config.apply(codec.decode(raw, self._t_desired).body)
        except ProtocolError as e:
            if e.code == "empty_payload":
                return  # the retained desired config was deleted
            body = self.config.report(0, "undecodable config_desired: %s" % (e.code,))
        if body is None:
            return  # not newer than what is applied
        if "error" in body:
            log("config", body["version"], "rejected:", body["error"]["reason"])
        else:
            self.hasher.set_rotation(self.config["rotation_s"])
            log("config", body["version"], "applied")
        await self._report(client, body)

    async def _command(self, client, raw):
        try:
            cmd = codec.decode(raw, self._t_cmd).body
        except ProtocolError as e:
            log("bad command:", e.code)
            return
        status = self.cmds.admit(cmd, hal.now_ms())
        if status == "duplicate":
            return
        name = cmd["name"]
        reply = {"id": cmd["id"], "status": status or "ok"}
        if status is None:
            if name == commands.PING:
                reply["result"] = {"uptime_s": time.ticks_diff(time.ticks_ms(), self.started) // 1000}
            elif name == commands.FLUSH:
                self._flush = True
            elif name == commands.REPORT_CONFIG:
                await self._report(client, self.config.report())
        _, m = self.env.seal("cmd_reply", reply, self._out)
        await client.publish(self.topic(topics.CMD_REPLY), m, False, 1)
        if status is None and name == commands.REBOOT:
            await self._reboot(client)

    async def _reboot(self, client):
        # Keep what was seen so far, say goodbye cleanly, restart.
        self._close_batch()
        _, m = self.env.seal("status", {"state": "offline", "reason": "reboot"}, self._out)
        await client.publish(self.topic(topics.STATUS), m, True, 1)
        await client.disconnect()
        log("reboot")
        hal.reset()

    def _heartbeat(self, interval):
        # The heartbeat body (SPEC 5.2); rssi is left out while the link
        # reports none (the field is -127..0 when present).
        b = {
            "uptime_s": time.ticks_diff(time.ticks_ms(), self.started) // 1000,
            "interval_s": interval,
            "free_mem": gc.mem_free(),
            "free_disk": flash.free_bytes(),
            "outbox": self.outbox.depth(),
            "dropped": self.outbox.dropped,
            "gps_fix": self.gps.quality if self.gps.position()[0] is not None else 0,
            "reset": self.reset_cause,
            "fw": VERSION,
            "config_version": self.config.version,
        }
        rssi = self.wifi.rssi()
        if rssi is not None:
            b["rssi"] = rssi
        return b

    # -- watch: watchdog, heap low-water mark -------------------------------

    async def watch(self):
        wdt = hal.watchdog(_WDT_MS)
        while True:
            wdt.feed()
            if self.test is not None and time.ticks_diff(time.ticks_ms(), self.test) >= 0:
                log("ota: self-test failed")  # no telemetry acknowledged before its deadline
                hal.reset()  # unconfirmed: the bootloader goes back to the old image
            gc.collect()
            self._heap()
            await asyncio.sleep_ms(1000)

    async def run(self):
        log("boot", self.env.boot, "fw", VERSION, "reset", self.reset_cause, "outbox", self.outbox.depth())
        await asyncio.gather(self.watch(), self.sense(), self.locate(), self.uplink())


def main(tel, out, test):
    try:
        node = Node(identity.load(), tel, out, test)
        gc.collect()
        # Collect after every 4 KB allocated, not when the heap is full:
        # garbage never spreads over the whole heap, so what lives long
        # packs low and the free space stays in larger pieces.
        gc.threshold(4096)
        asyncio.run(node.run())
    except Exception as e:
        # Never stay down: report and start again, as the watchdog would.
        sys.print_exception(e)
        time.sleep(2)
        hal.reset()
