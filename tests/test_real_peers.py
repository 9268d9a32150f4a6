"""The test peers themselves: each fixture gives a working service, and Mosquitto runs our config."""

from __future__ import annotations

import asyncio
import subprocess

import aiomqtt
import psycopg

from tests.services import AmqttThread, MosquittoProcess


async def _roundtrip(host: str, port: int, topic: str) -> bytes:
    async with aiomqtt.Client(host, port, identifier=f"sub-{topic}") as sub:
        await sub.subscribe(topic, qos=1)
        async with aiomqtt.Client(host, port, identifier=f"pub-{topic}") as pub:
            await pub.publish(topic, b"hello", qos=1)
        async with asyncio.timeout(5):
            async for message in sub.messages:
                return bytes(message.payload)
    raise AssertionError("no message")


async def test_amqtt_broker_relays_a_message(amqtt_broker: AmqttThread) -> None:
    assert await _roundtrip(amqtt_broker.host, amqtt_broker.port, "t/amqtt") == b"hello"


async def test_mosquitto_keeps_more_than_1000_queued_qos1_messages_across_a_restart(
    mosquitto_broker: MosquittoProcess,
) -> None:
    """The generated config lifts Mosquitto's default 1000-message queue and persists it.

    With the stock config a persistent subscriber that is away while 1500 QoS 1 messages arrive gets
    at most 1000 of them; ours must get every one, even with a broker restart in between.
    """
    host, port, topic, total = mosquitto_broker.host, mosquitto_broker.port, "t/queue", 1500
    async with aiomqtt.Client(host, port, identifier="slow-consumer", clean_session=False) as sub:
        await sub.subscribe(topic, qos=1)
    async with aiomqtt.Client(host, port, identifier="producer", max_inflight_messages=100) as pub:
        for i in range(total):
            await pub.publish(topic, str(i).encode(), qos=1)
    mosquitto_broker.restart()
    seen: set[int] = set()
    async with aiomqtt.Client(host, port, identifier="slow-consumer", clean_session=False) as sub:
        async with asyncio.timeout(20):
            async for message in sub.messages:
                seen.add(int(bytes(message.payload)))
                if len(seen) == total:
                    break
    assert seen == set(range(total))


def test_postgres_url_is_a_fresh_writable_database(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        conn.execute("CREATE TABLE probe (id int)")
        conn.execute("INSERT INTO probe VALUES (1)")
        assert conn.execute("SELECT id FROM probe").fetchall() == [(1,)]
        conn.rollback()
    assert tables == (0,)


def test_micropython_is_the_real_interpreter(micropython: str) -> None:
    out = subprocess.run(
        [micropython, "-X", "heapsize=100K", "-c", "import sys; print(sys.implementation.name)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "micropython"
