# Test doubles that implement the real interfaces and are fed real bytes.
import asyncio


class FakeStream:
    # The asyncio Stream the MQTT client uses (read, readexactly, write,
    # drain, close), backed by scripted broker bytes. Everything the client
    # writes is kept in `sent`; `feed()` makes broker bytes available.
    def __init__(self, incoming=b""):
        self.inbuf = bytearray(incoming)
        self.sent = bytearray()
        self.closed = False
        self.eof = False
        self._ev = asyncio.Event()

    def feed(self, data):
        self.inbuf.extend(data)
        self._ev.set()

    def hangup(self):
        self.eof = True
        self._ev.set()

    async def _wait(self, n):
        while len(self.inbuf) < n and not self.eof and not self.closed:
            self._ev.clear()
            await self._ev.wait()

    async def read(self, n):
        await self._wait(1)
        out = bytes(self.inbuf[:n])
        self.inbuf = self.inbuf[len(out) :]
        return out

    async def readexactly(self, n):
        await self._wait(n)
        if len(self.inbuf) < n:
            raise EOFError
        out = bytes(self.inbuf[:n])
        self.inbuf = self.inbuf[n:]
        return out

    def write(self, data):
        if self.closed:
            raise OSError(9)
        self.sent.extend(data)

    async def drain(self):
        pass

    def close(self):
        self.closed = True
        self._ev.set()

    async def wait_closed(self):
        pass

    def take(self):
        out = bytes(self.sent)
        self.sent = bytearray()
        return out


def opener(stream):
    async def open_connection(host, port, ssl=None):
        return stream, stream

    return open_connection
