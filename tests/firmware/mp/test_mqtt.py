# MQTT client: exact packets on a fake stream (runs under MicroPython).
import asyncio

import mqtt
from fakes import FakeStream, opener

CONNACK_OK = b"\x20\x02\x00\x00"
WILL = ("mob/v1/dev1/status", b"offline", 1, True)


def test_connect_packet_with_will():
    assert mqtt.connect_packet("dev1", 30, True, will=WILL) == (
        b"\x10\x2d\x00\x04MQTT\x04\x2e\x00\x1e\x00\x04dev1\x00\x12mob/v1/dev1/status\x00\x07offline"
    )


def test_connect_packet_with_credentials_persistent_session():
    assert mqtt.connect_packet("c", 60, False, "u", "p") == (
        b"\x10\x13\x00\x04MQTT\x04\xc0\x00\x3c\x00\x01c\x00\x01u\x00\x01p"
    )


def test_publish_packets():
    # the head, up to a payload of n bytes the client writes after it
    assert mqtt.publish_head("t/x", 2, 1, False, 1) + b"hi" == b"\x32\x09\x00\x03t/x\x00\x01hi"
    assert mqtt.publish_head("t/x", 2, 1, False, 1, dup=True) == b"\x3a\x09\x00\x03t/x\x00\x01"
    assert mqtt.publish_head("t/x", 2, 0, True) == b"\x31\x07\x00\x03t/x"
    # remaining length 203 takes two bytes
    assert mqtt.publish_head("t", 200) == b"\x30\xcb\x01\x00\x01t"


def test_subscribe_puback_ping_disconnect():
    assert mqtt.subscribe_packet(2, "a/b", 1) == b"\x82\x08\x00\x02\x00\x03a/b\x01"
    assert mqtt.puback_packet(0x1234) == b"\x40\x02\x12\x34"
    assert mqtt.PINGREQ == b"\xc0\x00"
    assert mqtt.DISCONNECT == b"\xe0\x00"


async def _connected(**kw):
    s = FakeStream(CONNACK_OK)
    c = mqtt.MQTTClient("dev1", "broker", open_connection=opener(s), **kw)
    await c.connect()
    return c, s


async def test_connect_sends_connect_and_reads_connack():
    c, s = await _connected(will=WILL)
    assert s.take() == mqtt.connect_packet("dev1", 30, True, will=WILL)
    assert c.session_present is False
    c.close()


async def test_connect_refused_carries_return_code():
    s = FakeStream(b"\x20\x02\x00\x05")
    c = mqtt.MQTTClient("dev1", "broker", open_connection=opener(s))
    try:
        await c.connect()
    except mqtt.MQTTError as e:
        assert e.code == 5
        assert s.closed
    else:
        raise AssertionError("connected")


async def test_qos1_publish_retransmits_with_dup_until_puback():
    c, s = await _connected(retry_ms=40)
    s.take()
    t = asyncio.create_task(c.publish("t/x", b"hi", qos=1))
    await asyncio.sleep_ms(100)
    first = b"\x32\x09\x00\x03t/x\x00\x01hi"
    again = b"\x3a\x09\x00\x03t/x\x00\x01hi"
    sent = s.take()
    assert sent[:11] == first
    assert sent[11:] == again * (len(sent[11:]) // 11) and len(sent) >= 22
    s.feed(b"\x40\x02\x00\x01")
    assert await t == 1
    assert c.retransmits >= 1
    assert not c._acks
    c.close()


async def test_qos1_publish_gives_up_and_fails_connection():
    c, s = await _connected(retry_ms=20, retries=2)
    try:
        await c.publish("t", b"x", qos=1)
    except mqtt.MQTTError as e:
        assert e.pid == 1
        assert e.reason == "no PUBACK"
    else:
        raise AssertionError("published")
    assert c.error is not None and c.error.pid == 1
    assert s.closed


async def test_incoming_qos1_retained_publish_is_acked():
    c, s = await _connected()
    got = []
    c.on_message = lambda t, m, r: got.append((t, bytes(m), r))
    s.take()
    s.feed(b'\x33\x0e\x00\x03a/b\x00\x07{"v":1}')
    await asyncio.sleep_ms(20)
    assert got == [("a/b", b'{"v":1}', True)]
    assert s.take() == b"\x40\x02\x00\x07"
    c.close()


async def test_subscribe_granted_and_refused():
    c, s = await _connected()
    s.take()
    t = asyncio.create_task(c.subscribe("a/b", 1))
    await asyncio.sleep_ms(10)
    assert s.take() == b"\x82\x08\x00\x01\x00\x03a/b\x01"
    s.feed(b"\x90\x03\x00\x01\x01")
    assert await t == 1
    t = asyncio.create_task(c.subscribe("a/#", 1))
    await asyncio.sleep_ms(10)
    s.feed(b"\x90\x03\x00\x02\x80")
    try:
        await t
    except mqtt.MQTTError as e:
        assert e.code == 0x80 and e.pid == 2
    else:
        raise AssertionError("subscribed")
    c.close()


async def test_keepalive_pings_then_times_out_without_answer():
    c, s = await _connected(keepalive=1)
    s.take()
    await asyncio.sleep_ms(600)
    assert s.take() == b"\xc0\x00"
    s.feed(b"\xd0\x00")  # PINGRESP keeps it alive
    await asyncio.sleep_ms(1000)
    assert c.error is None
    await asyncio.sleep_ms(1200)
    assert c.error is not None and c.error.reason == "keepalive timeout"


async def test_broker_hangup_fails_pending_publish():
    c, s = await _connected(retry_ms=5000)
    t = asyncio.create_task(c.publish("t", b"x", qos=1))
    await asyncio.sleep_ms(10)
    s.hangup()
    try:
        await t
    except mqtt.MQTTError as e:
        assert e.reason == "closed"
    else:
        raise AssertionError("published")


def test_backoff_is_jittered_and_capped():
    b = mqtt.Backoff(100, 1000)
    for n in range(12):
        w = b.next_ms()
        assert 100 <= w <= min(1000, 100 << n), (n, w)
    b.reset()
    assert b.next_ms() == 100
