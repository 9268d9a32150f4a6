# Store-and-forward: a bounded ring of encoded messages in flash that
# survives a reset. Each message is one file named after its ring index
# (monotonic across boots, kept in `state.json`); the file starts with a
# 2-byte count of the observations it carries, so that a batch dropped
# because the ring is full (oldest first) is counted in observations, as
# the heartbeat's `dropped` reports it. Only the two ends of the ring are
# kept in RAM.
import os

import flash


class Outbox:
    def __init__(self, root, capacity=64):
        self.root = root
        self.capacity = capacity
        self.dropped = 0  # observations discarded this boot (ring full)
        self.dropped_batches = 0
        flash.makedirs(root)
        self.next = flash.load(self._p("state.json"), {}).get("next", 0)
        self.head = None  # oldest index stored
        self.tail = None  # newest
        for name in os.listdir(root):
            if name.endswith(".tmp"):
                os.remove(self._p(name))  # a write cut by a reset
                continue
            if name == "state.json":
                continue
            n = int(name)
            if self.head is None or n < self.head:
                self.head = n
            if self.tail is None or n > self.tail:
                self.tail = n
        if self.tail is not None and self.tail >= self.next:
            self.next = self.tail + 1

    def _p(self, name):
        return self.root + "/" + name

    def _name(self, n):
        return self._p("%010d" % n)

    def depth(self):
        # Messages waiting. Only the head is ever acknowledged, so the ring
        # has no holes.
        return 0 if self.head is None else self.tail - self.head + 1

    def push(self, data, nobs=0):
        # Store message `data` (bytes); drops the oldest beyond capacity.
        # Returns its ring index.
        n = self.next
        tmp = self._name(n) + ".tmp"
        with open(tmp, "wb") as f:
            f.write(bytes((nobs >> 8 & 0xFF, nobs & 0xFF)))
            f.write(data)
        os.rename(tmp, self._name(n))
        if self.head is None:
            self.head = n
        self.tail = n
        self.next = n + 1
        while self.tail - self.head + 1 > self.capacity:
            self._drop(self.head)
            self.head += 1
        flash.save(self._p("state.json"), {"next": self.next})
        return n

    def _drop(self, n):
        try:
            with open(self._name(n), "rb") as f:
                h = f.read(2)
            os.remove(self._name(n))
        except OSError:
            return
        self.dropped += h[0] << 8 | h[1]
        self.dropped_batches += 1

    def peek(self, buf):
        # (index, message) of the oldest stored message, or None. The
        # message is read into `buf` (a bytearray allocated once, as large
        # as the largest message) and returned as a memoryview of it.
        while self.head is not None:
            try:
                with open(self._name(self.head), "rb") as f:
                    f.read(2)
                    return self.head, memoryview(buf)[: f.readinto(buf)]
            except OSError:
                self._advance()
        return None

    def _advance(self):
        if self.head >= self.tail:
            self.head = None
            self.tail = None
        else:
            self.head += 1

    def ack(self, n):
        # Message n reached the broker: forget it.
        try:
            os.remove(self._name(n))
        except OSError:
            pass
        if n == self.head:
            self._advance()
