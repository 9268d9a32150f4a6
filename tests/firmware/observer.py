"""The test's side of the wire: an aiomqtt subscriber that decodes what a device sends with the
shared codec, reconnecting through broker restarts on a persistent session."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiomqtt

from protocol import codec, topics


@dataclass
class Observer:
    host: str
    port: int
    device: str
    messages: dict[str, list] = field(default_factory=dict)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, channel: str) -> list:
        return self.messages.get(channel, [])

    def telemetry_batches(self) -> dict[tuple[str, int], int]:
        """(boot, batch) -> seq, checking that a re-sent batch carries the same identity."""
        seen: dict[tuple[str, int], int] = {}
        for m in self.of(topics.TELEMETRY):
            key = (m.boot, m.body["batch"])
            assert seen.setdefault(key, m.seq) == m.seq, f"batch {key} came with two seqs"
        return seen

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, identifier=f"observer-{self.device}", clean_session=False
                ) as client:
                    await client.subscribe([(topics.topic(self.device, c), 1) for c in topics.CHANNELS])
                    self.connected.set()
                    async for m in client.messages:
                        _, _, channel = topics.parse_topic(m.topic.value)
                        msg = codec.decode(bytes(m.payload), m.topic.value)
                        self.messages.setdefault(channel, []).append(msg)
                        self.changed.set()
            except aiomqtt.MqttError:
                self.connected.clear()
                await asyncio.sleep(0.2)

    async def wait_for(self, what: Callable[[], object], timeout: float = 30, why: str = "") -> object:  # noqa: ASYNC109
        """Until what() is truthy; fails with `why` and what arrived after `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                while not (result := what()):
                    self.changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.changed.wait(), 0.1)
                return result
        except TimeoutError:
            arrived = {k: len(v) for k, v in self.messages.items()}
            raise AssertionError(f"timed out waiting for {why}; arrived: {arrived}") from None

    async def publish(self, channel: str, body: dict, *, retain: bool = False) -> None:
        """What the cloud would send the device on a downlink channel."""
        msg = codec.make(topics.CHANNEL_TYPE[channel], self.device, "c0ffee00", 1, 0, body)
        async with aiomqtt.Client(self.host, self.port, identifier=f"cloud-{self.device}") as c:
            await c.publish(topics.topic(self.device, channel), codec.encode(msg), qos=1, retain=retain)


@contextlib.asynccontextmanager
async def observing(host: str, port: int, device: str) -> AsyncIterator[Observer]:
    obs = Observer(host, port, device)
    task = asyncio.create_task(obs._run(), name=f"observer:{device}")
    try:
        async with asyncio.timeout(10):
            await obs.connected.wait()
        yield obs
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def dump(obj: object) -> str:
    return json.dumps(obj, default=lambda o: o.__dict__)
