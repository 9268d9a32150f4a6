# One scan window's sightings: one per address, strongest RSSI, bounded (runs under MicroPython).
import time

import ble

A = bytes((0xA4, 0xC1, 0x38, 0, 0, 1))
B = bytes((0x5E, 0xAA, 0xBB, 0xCC, 0xDD, 2))
# A straddles the end of C and the start of D in the table: not a sighting of A.
C = bytes((9, 9, 9, 0xA4, 0xC1, 0x38))
D = bytes((0, 0, 1, 7, 7, 7))


def _rows(w):
    return [(bytes(a), t, rssi) for a, t, rssi, _ in w.drain()]


def test_one_sighting_per_address_with_its_strongest_rssi():
    w = ble.Window()
    w.start()
    w.on_adv(0, memoryview(A), -70)
    w.on_adv(1, memoryview(B), -80)
    w.on_adv(0, memoryview(A), -55)
    w.on_adv(0, memoryview(A), -90)
    assert _rows(w) == [(A, 0, -55), (B, 1, -80)]
    assert _rows(w) == []  # drained


def test_an_address_split_across_two_entries_is_not_found():
    w = ble.Window()
    w.on_adv(0, memoryview(C), -60)
    w.on_adv(0, memoryview(D), -61)
    w.on_adv(1, memoryview(A), -62)
    assert _rows(w) == [(C, 0, -60), (D, 0, -61), (A, 1, -62)]


def test_first_seen_tick_and_a_full_table_counts_what_it_refuses():
    w = ble.Window(2)
    w.start()
    before = time.ticks_ms()
    w.on_adv(0, memoryview(A), -60)
    after = time.ticks_ms()
    w.on_adv(0, memoryview(B), -60)
    w.on_adv(0, memoryview(C), -60)
    w.on_adv(0, memoryview(D), -60)
    w.on_adv(0, memoryview(A), -50)  # known: updated, not refused
    assert w.overflow == 2
    rows = list(w.drain())
    assert [bytes(r[0]) for r in rows] == [A, B]
    assert time.ticks_diff(rows[0][3], before) >= 0 and time.ticks_diff(after, rows[0][3]) >= 0
    w.on_adv(0, memoryview(C), -60)  # room again after the drain
    assert [bytes(r[0]) for r in w.drain()] == [C]
