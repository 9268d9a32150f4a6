# Store-and-forward: a bounded ring of encoded telemetry messages in flash
# that survives a reset. Each message is one file named after its batch
# number; `state` keeps the next batch number and how many batches were
# dropped (oldest first) because the ring was full. Nothing is kept in RAM
# but the two ends of the ring.
import os

import flash

_STATE = "state.json"


class Outbox:
    def __init__(self, root, capacity=64):
        self.root = root
        self.capacity = capacity
        flash.makedirs(root)
        st = flash.load(self._p(_STATE), {})
        self.next = st.get("next", 0)
        self.dropped = st.get("dropped", 0)
        self.head = None  # oldest batch number stored
        self.tail = None  # newest
        for name in os.listdir(root):
            if name.endswith(".tmp"):
                os.remove(self._p(name))  # a write cut by a reset
                continue
            if name == _STATE:
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
        # Batches waiting. Only the head is ever acknowledged, so the ring
        # has no holes.
        return 0 if self.head is None else self.tail - self.head + 1

    def reserve(self):
        # The batch number the next push will carry.
        return self.next

    def push(self, n, data):
        # Store message `data` (bytes) as batch n; drops the oldest batches
        # beyond capacity and counts them.
        tmp = self._name(n) + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, self._name(n))
        if self.head is None:
            self.head = n
        self.tail = n
        self.next = n + 1
        while self.tail - self.head + 1 > self.capacity:
            if self._remove(self.head):
                self.dropped += 1
            self.head += 1
        self._save()

    def _save(self):
        flash.save(self._p(_STATE), {"next": self.next, "dropped": self.dropped})

    def _remove(self, n):
        try:
            os.remove(self._name(n))
            return True
        except OSError:
            return False

    def peek(self):
        # (batch number, bytes) of the oldest stored batch, or None.
        while self.head is not None:
            try:
                with open(self._name(self.head), "rb") as f:
                    return self.head, f.read()
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
        # Batch n reached the broker: forget it.
        self._remove(n)
        if n == self.head:
            self._advance()
