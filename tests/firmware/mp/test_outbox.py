# Store-and-forward ring in flash (runs under MicroPython, flash = cwd).
import os

from outbox import Outbox


def _clean(root):
    try:
        for n in os.listdir(root):
            os.remove(root + "/" + n)
        os.rmdir(root)
    except OSError:
        pass


_BUF = bytearray(64)


def _peek(o):
    # peek() reads into the caller's buffer and gives a view of it.
    item = o.peek(_BUF)
    return item if item is None else (item[0], bytes(item[1]))


def test_peek_reads_into_the_buffer_it_is_given():
    _clean("ob6")
    o = Outbox("ob6")
    o.push(memoryview(b"xxpayload")[2:], 3)  # a view of a sealing buffer is stored as its bytes
    n, m = o.peek(_BUF)
    assert (n, bytes(m)) == (0, b"payload")
    m[0] = 80
    assert _BUF[:7] == b"Payload"


def test_push_peek_ack_in_order():
    _clean("ob1")
    o = Outbox("ob1", capacity=4)
    for i in range(3):
        assert o.push(b"batch%d" % i, 5) == i
    assert o.depth() == 3
    assert _peek(o) == (0, b"batch0")
    o.ack(0)
    assert _peek(o) == (1, b"batch1")
    assert o.depth() == 2


def test_file_holds_observation_count_then_the_exact_message():
    _clean("ob0")
    o = Outbox("ob0")
    o.push(b'{"v":"1.0"}', 300)
    with open("ob0/0000000000", "rb") as f:
        assert f.read() == b'\x01\x2c{"v":"1.0"}'


def test_survives_reset():
    _clean("ob2")
    o = Outbox("ob2", capacity=8)
    for i in range(5):
        o.push(b"m%d" % i)
    o.ack(0)
    o.ack(1)
    # a write cut by a reset leaves a .tmp file behind
    with open("ob2/0000000005.tmp", "wb") as f:
        f.write(b"half")
    o = Outbox("ob2", capacity=8)
    assert _peek(o) == (2, b"m2")
    assert o.depth() == 3
    assert o.push(b"m5") == 5
    assert "0000000005.tmp" not in os.listdir("ob2")


def test_indexes_continue_after_everything_was_sent():
    _clean("ob3")
    o = Outbox("ob3")
    o.push(b"a")
    o.ack(0)
    assert _peek(o) is None and o.depth() == 0
    o = Outbox("ob3")
    assert o.push(b"b") == 1


def test_full_ring_drops_oldest_and_counts_observations():
    _clean("ob4")
    o = Outbox("ob4", capacity=3)
    for i in range(5):
        o.push(b"m%d" % i, 10 + i)
    assert o.dropped == 10 + 11
    assert o.dropped_batches == 2
    assert o.depth() == 3
    assert _peek(o) == (2, b"m2")
    o = Outbox("ob4", capacity=3)
    assert o.dropped == 0  # the heartbeat's count is per boot
    assert sorted(os.listdir("ob4")) == ["0000000002", "0000000003", "0000000004", "state.json"]


def test_drop_while_head_in_flight():
    _clean("ob5")
    o = Outbox("ob5", capacity=2)
    o.push(b"a", 1)
    n, _ = _peek(o)
    o.push(b"b", 1)
    o.push(b"c", 1)  # drops message 0 while it is being sent
    o.ack(n)
    assert _peek(o) == (1, b"b")
    assert o.dropped == 1
