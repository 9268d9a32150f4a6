"""A simulated device's OTA side over a real broker: it takes offers and answers as scripted.

It speaks protocol v1 through the shared codec (tests/cloud/devices.py builds the envelopes); what it
does with an offer is a ``behaviour``: install and commit, fail, roll back, stay silent, or claim
success without ever booting the new version.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

import aiomqtt

from protocol import topics
from protocol.codec import decode
from tests.cloud.devices import Device


@dataclass
class OtaDevice(Device):
    fw: str = "1"
    behaviour: str = "commit"
    offers: list[dict] = field(default_factory=list)
    finished_jobs: set[str] = field(default_factory=set)

    def hello_fw(self) -> tuple[str, bytes]:
        return self._next("hello", {"hw": "esp32", "fw": self.fw, "heartbeat_s": 60, "caps": ["ota"]})

    def status(self, job: str, state: str, **extra: object) -> tuple[str, bytes]:
        return self._next("ota_status", {"job": job, "state": state, "version": self.fw, **extra})

    def reboot(self) -> None:
        self.boot = os.urandom(4).hex()
        self.seq = -1
        self.batch = -1

    async def connect_and_greet(self, client: aiomqtt.Client) -> None:
        await client.subscribe(topics.topic(self.device_id, topics.OTA_OFFER), qos=1)
        await client.publish(*self.online(), qos=1, retain=True)
        await client.publish(*self.hello_fw(), qos=1)
        await client.publish(*self.heartbeat(), qos=0)

    async def run(self, host: str, port: int) -> None:
        """Serve offers until cancelled, acting on each job id at most once (SPEC §5.5)."""
        offer_topic = topics.topic(self.device_id, topics.OTA_OFFER)
        async with aiomqtt.Client(host, port, identifier=self.device_id) as c:
            await self.connect_and_greet(c)
            async for message in c.messages:
                # amqtt 0.12 now and then delivers a client's own retained status to it, though
                # it subscribed to nothing else: a device dispatches on the topic, as firmware does.
                if not message.topic.matches(offer_topic):
                    continue
                if not message.payload:
                    continue  # a withdrawn (deleted) retained offer
                offer = decode(bytes(message.payload), str(message.topic)).body
                if offer["job"] in self.finished_jobs:
                    continue
                self.offers.append(offer)
                self.finished_jobs.add(offer["job"])
                await self._act(c, offer)

    async def _act(self, c: aiomqtt.Client, offer: dict) -> None:
        job, new = offer["job"], offer["version"]
        if self.behaviour == "silent":
            return
        for state in ("offered", "downloading", "verifying"):
            await c.publish(*self.status(job, state, progress=100), qos=1)
        if self.behaviour == "fail":
            await c.publish(
                *self.status(job, "failed", reason="HashMismatch: artifact sha256 differs"), qos=1
            )
            return
        await c.publish(*self.status(job, "installing"), qos=1)
        await c.publish(*self.status(job, "rebooting"), qos=1)
        if self.behaviour == "claim":  # says succeeded, never boots the new version
            await c.publish(*self.status(job, "succeeded"), qos=1)
            return
        old = self.fw
        self.reboot()
        self.fw = new
        await c.publish(*self.hello_fw(), qos=1)
        await c.publish(*self.status(job, "confirming"), qos=1)
        if self.behaviour == "rollback":  # the self-test failed: back on the old slot, new boot
            self.reboot()
            self.fw = old
            await c.publish(*self.hello_fw(), qos=1)
            await c.publish(
                *self.status(job, "rolled-back", reason="self-test failed: no broker in 60 s"), qos=1
            )
            return
        await asyncio.sleep(0.2)
        await c.publish(*self.heartbeat(), qos=0)
        await c.publish(*self.telemetry(), qos=1)
        if self.behaviour == "unconfirmed":  # power cut before it marked the boot valid: rolled back
            await asyncio.sleep(1.0)
            self.reboot()
            self.fw = old
            await c.publish(*self.hello_fw(), qos=1)
            await c.publish(*self.status(job, "rolled-back", reason="never confirmed its boot"), qos=1)
            return
        await c.publish(*self.status(job, "succeeded"), qos=1)
