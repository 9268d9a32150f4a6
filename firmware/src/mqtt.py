# MQTT 3.1.1 client for MicroPython asyncio, after umqtt.simple: the packets
# are built by plain functions (tested byte for byte), the client adds QoS 1
# with retransmit, SUBSCRIBE, keepalive and a Last Will. One connection per
# MQTTClient.connect(); reconnecting is the caller's loop (see Backoff).
#
# Errors: MQTTError(reason, code, pid) for everything the client detects;
# OSError from the socket is turned into MQTTError at the reader, so callers
# handle one exception type.
import asyncio
import random
import time

from micropython import const

_CONNECT = const(0x10)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBSCRIBE = const(0x82)
_SUBACK = const(0x90)
_PINGRESP = const(0xD0)

PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"

_MAX_PACKET = const(16384)  # what we accept from the broker
_MAX_INFLIGHT = const(4)


class MQTTError(Exception):
    # reason: short text; code: CONNACK return code or SUBACK result;
    # pid: the packet id concerned, if any.
    def __init__(self, reason, code=None, pid=None):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.pid = pid


def _varlen(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return out


def _str(s):
    if isinstance(s, str):
        s = s.encode()
    return bytes((len(s) >> 8, len(s) & 0xFF)) + s


def _packet(first, body):
    return bytes((first,)) + _varlen(len(body)) + body


def connect_packet(client_id, keepalive, clean=True, user=None, password=None, will=None):
    # will: (topic, message, qos, retain) or None
    flags = 0x02 if clean else 0
    payload = _str(client_id)
    if will:
        topic, msg, qos, retain = will
        flags |= 0x04 | (qos & 3) << 3 | (0x20 if retain else 0)
        payload += _str(topic) + _str(msg)
    if user is not None:
        flags |= 0x80
        payload += _str(user)
        if password is not None:
            flags |= 0x40
            payload += _str(password)
    head = b"\x00\x04MQTT\x04" + bytes((flags, keepalive >> 8, keepalive & 0xFF))
    return _packet(_CONNECT, head + payload)


def publish_head(topic, n, qos=0, retain=False, pid=0, dup=False):
    # A PUBLISH up to its payload of n bytes: the client writes the payload
    # after it, so a message is never copied into a packet.
    first = _PUBLISH | qos << 1 | (1 if retain else 0) | (0x08 if dup else 0)
    head = _str(topic)
    if qos:
        head += bytes((pid >> 8, pid & 0xFF))
    return bytes((first,)) + _varlen(len(head) + n) + head


def subscribe_packet(pid, topic, qos=1):
    return _packet(_SUBSCRIBE, bytes((pid >> 8, pid & 0xFF)) + _str(topic) + bytes((qos,)))


def puback_packet(pid):
    return bytes((_PUBACK, 2, pid >> 8, pid & 0xFF))


async def read_packet(stream):
    # -> (first byte, body); MQTTError("closed") at EOF.
    b = await stream.read(1)
    if not b:
        raise MQTTError("closed")
    first = b[0]
    n = 0
    shift = 0
    while True:
        b = await stream.read(1)
        if not b:
            raise MQTTError("closed")
        n |= (b[0] & 0x7F) << shift
        if not b[0] & 0x80:
            break
        shift += 7
        if shift > 21:
            raise MQTTError("bad length")
    if n > _MAX_PACKET:
        raise MQTTError("packet too large", code=n)
    body = await stream.readexactly(n) if n else b""
    return first, body


class Backoff:
    # Capped exponential backoff with full jitter: the n-th wait is uniform
    # in [base, min(cap, base * 2**n)].
    def __init__(self, base_ms=500, cap_ms=30000):
        self.base_ms = base_ms
        self.cap_ms = cap_ms
        self.attempt = 0

    def next_ms(self):
        hi = min(self.cap_ms, self.base_ms << min(self.attempt, 16))
        self.attempt += 1
        return self.base_ms + random.getrandbits(20) % (hi - self.base_ms + 1)

    def reset(self):
        self.attempt = 0


def tls_context(files):
    # files: (ca, cert, key) paths from device.json. Verify the broker against the fleet CA and
    # present the device's certificate; imported and built per connect, so no heap is held between.
    import ssl

    ca, cert, key = files
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca:
        ctx.load_verify_locations(cafile=ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


class MQTTClient:
    # on_message(topic str, msg bytes, retained bool) runs in the reader task.
    def __init__(
        self,
        client_id,
        host,
        port=1883,
        user=None,
        password=None,
        keepalive=30,
        ssl=None,
        will=None,
        retry_ms=5000,
        retries=3,
        open_connection=None,
    ):
        self.client_id = client_id
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.ssl = ssl
        self.will = will
        self.retry_ms = retry_ms
        self.retries = retries
        self.on_message = None
        self._open = open_connection or asyncio.open_connection
        self._s = None
        self._pid = 0
        self._acks = {}  # pid -> Event, at most _MAX_INFLIGHT + 1 entries
        self._granted = 0x80  # the last SUBACK's return code (one SUBSCRIBE at a time)
        self._tasks = ()
        self.error = None  # MQTTError that ended the connection
        self.session_present = False
        self._rx = 0
        self.retransmits = 0

    async def connect(self, clean=True, timeout_ms=10000):
        self.error = None
        try:
            if self.ssl:
                ssl = self.ssl
                if type(ssl) is tuple:
                    ssl = tls_context(ssl)
                c = self._open(self.host, self.port, ssl=ssl)
            else:
                c = self._open(self.host, self.port)
            _, self._s = await asyncio.wait_for_ms(c, timeout_ms)
            self._s.write(
                connect_packet(self.client_id, self.keepalive, clean, self.user, self.password, self.will)
            )
            await self._s.drain()
            first, body = await asyncio.wait_for_ms(read_packet(self._s), timeout_ms)
        except (OSError, asyncio.TimeoutError) as e:
            self._close_stream()
            raise MQTTError("connect failed: %r" % (e,))
        except MQTTError:
            self._close_stream()
            raise
        if first != _CONNACK or len(body) != 2:
            self._close_stream()
            raise MQTTError("expected CONNACK", code=first)
        if body[1]:
            self._close_stream()
            raise MQTTError("connection refused", code=body[1])
        self.session_present = bool(body[0] & 1)
        self._rx = time.ticks_ms()
        self._tasks = (asyncio.create_task(self._reader()), asyncio.create_task(self._pinger()))

    def _close_stream(self):
        if self._s is not None:
            try:
                self._s.close()
            except OSError:
                pass
            self._s = None

    def _fail(self, err):
        # The connection is over: wake everyone waiting on it.
        if self.error is None:
            self.error = err
        self._close_stream()
        for ev in self._acks.values():
            ev.set()

    def close(self):
        for t in self._tasks:
            t.cancel()
        self._tasks = ()
        self._fail(MQTTError("closed by client"))
        self._acks = {}

    async def disconnect(self):
        if self._s is not None and self.error is None:
            try:
                self._s.write(DISCONNECT)
                await self._s.drain()
            except OSError:
                pass
        self.close()

    async def _send(self, head, payload=None):
        if self.error is not None:
            raise self.error
        try:
            self._s.write(head)
            if payload is not None:
                self._s.write(payload)
            await self._s.drain()
        except OSError as e:
            err = MQTTError("send failed: %r" % (e,))
            self._fail(err)
            raise err

    async def publish(self, topic, msg, retain=False, qos=0):
        # QoS 1 returns once the broker's PUBACK arrived, resending with DUP
        # every retry_ms; after `retries` resends the connection is declared
        # dead (MQTTError with the pid).
        if isinstance(msg, str):
            msg = msg.encode()
        if not qos:
            await self._send(publish_head(topic, len(msg), 0, retain), msg)
            return 0
        while len(self._acks) >= _MAX_INFLIGHT:
            await asyncio.sleep_ms(5)
            if self.error is not None:
                raise self.error
        self._pid = pid = self._pid % 65535 + 1
        ev = asyncio.Event()
        self._acks[pid] = ev
        try:
            await self._send(publish_head(topic, len(msg), 1, retain, pid), msg)
            for attempt in range(self.retries + 1):
                try:
                    await asyncio.wait_for_ms(ev.wait(), self.retry_ms)
                except asyncio.TimeoutError:
                    if attempt == self.retries:
                        break
                    self.retransmits += 1
                    await self._send(publish_head(topic, len(msg), 1, retain, pid, True), msg)
                    continue
                if self.error is not None:
                    raise self.error
                return pid
            err = MQTTError("no PUBACK", pid=pid)
            self._fail(err)
            raise err
        finally:
            self._acks.pop(pid, None)

    async def subscribe(self, topic, qos=1, timeout_ms=10000):
        # One at a time: the SUBACK's code is kept in _granted.
        self._granted = 0x80
        self._pid = pid = self._pid % 65535 + 1
        ev = asyncio.Event()
        self._acks[pid] = ev
        try:
            await self._send(subscribe_packet(pid, topic, qos))
            try:
                await asyncio.wait_for_ms(ev.wait(), timeout_ms)
            except asyncio.TimeoutError:
                raise MQTTError("no SUBACK", pid=pid)
            if self.error is not None:
                raise self.error
            granted = self._granted
            if granted == 0x80:
                raise MQTTError("subscription refused", code=granted, pid=pid)
            return granted
        finally:
            self._acks.pop(pid, None)

    async def _reader(self):
        try:
            while True:
                first, body = await read_packet(self._s)
                self._rx = time.ticks_ms()
                kind = first & 0xF0
                if kind == _PUBLISH:
                    qos = first >> 1 & 3
                    n = body[0] << 8 | body[1]
                    i = 2 + n + (2 if qos else 0)
                    if self.on_message is not None:
                        # A view of the payload, not a copy: on_message keeps what it needs.
                        self.on_message(body[2 : 2 + n].decode(), memoryview(body)[i:], bool(first & 1))
                    if qos == 1:
                        await self._send(puback_packet(body[i - 2] << 8 | body[i - 1]))
                elif kind == _PUBACK or kind == _SUBACK:
                    pid = body[0] << 8 | body[1]
                    ev = self._acks.get(pid)
                    if ev is not None:
                        if kind == _SUBACK:
                            self._granted = body[2] if len(body) > 2 else 0x80
                        ev.set()
                elif kind == _PINGRESP:
                    pass
                else:
                    raise MQTTError("unexpected packet", code=first)
        except asyncio.CancelledError:
            raise
        except MQTTError as e:
            self._fail(e)
        except (OSError, EOFError, IndexError, MemoryError) as e:
            # MemoryError: a packet the heap cannot hold; the connection
            # fails (and is made again) rather than the reader dying.
            self._fail(MQTTError("receive failed: %r" % (e,)))

    async def _pinger(self):
        # A PINGREQ every keepalive/2; no packet from the broker for 1.5 x
        # keepalive means the link is gone even if TCP has not noticed.
        half = self.keepalive * 500
        try:
            while self.error is None:
                await asyncio.sleep_ms(half)
                if time.ticks_diff(time.ticks_ms(), self._rx) > 3 * half:
                    self._fail(MQTTError("keepalive timeout"))
                    return
                await self._send(PINGREQ)
        except asyncio.CancelledError:
            raise
        except MQTTError:
            pass  # _send already failed the connection
