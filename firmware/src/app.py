# The sensor node: one asyncio task per feature, all started and owned by
# Node.run() (sense: BLE scan windows -> batches -> outbox; locate: GPS;
# uplink: the MQTT connection; watch: watchdog and heap).
#
# Delivery: a closed batch is encoded (its boot id and seq fixed then) and
# written to the flash outbox before any attempt to send it; it leaves the
# outbox only when the broker's PUBACK arrives. A reset or a lost connection
# re-sends the same bytes, so the cloud dedups on (device, boot, seq).
import asyncio
import gc
import sys
import time

from micropython import const

import ble
import gps
import hal
import heartbeat
import identity
import mqtt
import privacy
import shadow
import telemetry
from envelope import Envelopes, new_boot_id
from outbox import Outbox
from protocol import codec, topics
from protocol.errors import ProtocolError
from version import VERSION

# Connection states (the uplink's, reported in heartbeats).
WAIT_WIFI = const(0)
CONNECTING = const(1)
CONNECTED = const(2)
BACKOFF = const(3)
STATE_NAMES = ("wait_wifi", "connecting", "connected", "backoff")

_WDT_MS = const(60000)
_IDLE_MS = const(100)


def log(*args):
    print("mob:", *args)


class Node:
    def __init__(self, ident):
        self.ident = ident
        self.reset_cause = hal.reset_cause()
        self.env = Envelopes(ident.device_id, new_boot_id(), hal.now_ms)
        self.config = shadow.Shadow()
        self.outbox = Outbox("outbox", ident.outbox_max)
        self.hasher = privacy.Hasher(ident.fleet_key, self.config["rotation_s"])
        self.gps = gps.Parser(time.ticks_ms, time.ticks_diff)
        self.batch = telemetry.Batch(self.config["batch_max"])
        self.batch_opened = None
        self.wifi = hal.Wifi()
        self.state = WAIT_WIFI
        self.started = time.ticks_ms()
        self.heap_min_free = hal.mem_free()
        self.heap_peak = hal.mem_alloc()
        self.overflow = 0  # BLE sightings lost to a full window table
        self.sent = 0  # batches acknowledged by the broker this boot
        self._desired = None  # the latest config/desired payload (one kept)
        self._t_desired = topics.topic(ident.device_id, topics.CONFIG_DESIRED)

    def topic(self, channel):
        return topics.topic(self.ident.device_id, channel)

    def _heap(self):
        free = hal.mem_free()
        used = hal.mem_alloc()
        if free < self.heap_min_free:
            self.heap_min_free = free
        if used > self.heap_peak:
            self.heap_peak = used

    # -- sense: BLE windows -> observations -> batches in the outbox --------

    async def sense(self):
        window = ble.Window()
        scanner = hal.Scanner(window.on_adv, window.on_done)
        while True:
            window.done = False
            t_start = hal.now_ms()
            scanner.start(self.config["scan_ms"])
            while not window.done:
                await asyncio.sleep_ms(50)
            self._observe(window, t_start)
            if len(self.batch) and (
                self.batch.full()
                or time.ticks_diff(time.ticks_ms(), self.batch_opened) >= self.config["batch_s"] * 1000
            ):
                self._close_batch()

    def _observe(self, window, t_start):
        now_ms = hal.now_ms()
        now_t = time.ticks_ms()
        floor = self.config["rssi_floor"]
        lat, lon = self.gps.position()
        self.overflow += window.overflow
        window.overflow = 0
        if self.batch_opened is None:
            self.batch_opened = now_t
        self.batch.start(t_start)
        for addr, addr_type, rssi, seen_t in window.drain():
            if rssi < floor:
                continue
            ts = now_ms - time.ticks_diff(now_t, seen_t)
            hid = self.hasher.hid(addr, ts // 1000)
            self.batch.add(ts, telemetry.KIND_BLE, hid, rssi, privacy.randomized(addr_type, addr), lat, lon)
            if self.batch.full():
                self._close_batch()
                self.batch.start(t_start)
                self.batch_opened = now_t

    def _close_batch(self):
        if not len(self.batch):
            return
        n = self.outbox.reserve()
        _, data = self.env.seal("telemetry", self.batch.body(n))
        self.outbox.push(n, data)
        data = None
        self._heap()
        if self.batch.max_obs != self.config["batch_max"]:
            self.batch = telemetry.Batch(self.config["batch_max"])
        else:
            self.batch.clear()
        self.batch_opened = None
        gc.collect()

    # -- locate: GPS sentences from the UART --------------------------------

    async def locate(self):
        uart = hal.gps_uart()
        clock_set = False
        while True:
            while uart.any():
                line = uart.readline()
                if not line:
                    break
                self.gps.feed(line)
            if not clock_set and self.gps.fix.epoch_s and hal.now_ms() < 1600000000000:
                hal.set_clock(self.gps.fix.epoch_s)  # no NTP yet: trust the satellites
                clock_set = True
            await asyncio.sleep_ms(200)

    # -- uplink: one MQTT connection at a time, reconnect with backoff ------

    def _on_message(self, topic, msg, retained):
        if topic == self._t_desired:
            self._desired = bytes(msg)

    async def _wifi(self):
        self.state = WAIT_WIFI
        self.wifi.connect(self.ident.ssid, self.ident.psk)
        for _ in range(100):
            if self.wifi.isconnected():
                return True
            await asyncio.sleep_ms(100)
        return False

    async def uplink(self):
        backoff = mqtt.Backoff(500, 30000)
        ident = self.ident
        while True:
            if not self.wifi.isconnected() and not await self._wifi():
                continue
            self.state = CONNECTING
            _, offline = self.env.seal("status", {"online": False})
            client = mqtt.MQTTClient(
                ident.device_id,
                ident.host,
                ident.port,
                ident.user,
                ident.password,
                ident.keepalive,
                ssl=ident.tls or None,
                will=(self.topic(topics.STATUS), offline, 1, True),
            )
            offline = None
            client.on_message = self._on_message
            try:
                await client.connect(clean=True)
                await client.subscribe(self._t_desired, 1)
                _, m = self.env.seal("status", {"online": True})
                await client.publish(self.topic(topics.STATUS), m, True, 1)
                _, m = self.env.seal("hello", self._hello())
                await client.publish(self.topic(topics.HELLO), m, False, 1)
                m = None
                self.state = CONNECTED
                log("connected to", ident.host, ident.port)
                backoff.reset()
                await self._session(client)
            except mqtt.MQTTError as e:
                log("connection lost:", e.reason, e.code, e.pid)
            finally:
                client.close()
            self.state = BACKOFF
            gc.collect()
            await asyncio.sleep_ms(backoff.next_ms())

    def _hello(self):
        return {
            "fw": VERSION,
            "hw": "esp32",
            "caps": ["ble", "gps"],
            "reset_cause": self.reset_cause,
            "config_version": self.config.version,
        }

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
            if time.ticks_diff(time.ticks_ms(), next_hb) >= 0:
                _, m = self.env.seal("heartbeat", self._heartbeat())
                await client.publish(self.topic(topics.HEARTBEAT), m, False, 1)
                next_hb = time.ticks_add(time.ticks_ms(), self.config["heartbeat_s"] * 1000)
                continue
            item = self.outbox.peek()
            if item is None:
                await asyncio.sleep_ms(_IDLE_MS)
                continue
            n, data = item
            item = None
            await client.publish(t_tel, data, False, 1)
            data = None
            self.outbox.ack(n)
            self.sent += 1

    async def _apply_config(self, client):
        raw = self._desired
        self._desired = None
        try:
            body = self.config.apply(codec.decode(raw, self._t_desired).body)
        except ProtocolError as e:
            body = self.config.reject(None, "undecodable: %s" % (e.reason,))
        if body["status"] == shadow.APPLIED:
            self.hasher.set_rotation(self.config["rotation_s"])
        log("config", body["status"], body.get("version"), body.get("reason", ""))
        _, m = self.env.seal("config_reported", body)
        await client.publish(self.topic(topics.CONFIG_REPORTED), m, True, 1)

    def _heartbeat(self):
        self._heap()
        return heartbeat.body(
            time.ticks_diff(time.ticks_ms(), self.started) // 1000,
            hal.mem_free(),
            self.heap_min_free,
            self.wifi.rssi(),
            self.reset_cause,
            VERSION,
            self.outbox.depth(),
            self.outbox.dropped,
            STATE_NAMES[self.state],
        )

    # -- watch: watchdog, heap low-water mark -------------------------------

    async def watch(self):
        wdt = hal.Watchdog(_WDT_MS)
        while True:
            wdt.feed()
            self._heap()
            await asyncio.sleep_ms(1000)

    async def run(self):
        log("boot", self.env.boot, "fw", VERSION, "reset", self.reset_cause, "outbox", self.outbox.depth())
        await asyncio.gather(self.watch(), self.sense(), self.locate(), self.uplink())


def main():
    try:
        node = Node(identity.load())
        gc.collect()
        asyncio.run(node.run())
    except Exception as e:
        # Never stay down: report and start again, as the watchdog would.
        sys.print_exception(e)
        time.sleep(2)
        hal.reset()
