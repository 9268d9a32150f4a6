# NMEA parsing (runs under MicroPython).
import time

import gps

GGA = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n"
RMC = b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n"
GGA_NOFIX = b"$GPGGA,123520,,,,,0,00,99.99,,,,,,*4F"


def _parser():
    return gps.Parser(time.ticks_ms, time.ticks_diff)


def test_checksum():
    assert gps.checksum_ok(GGA.strip())
    assert not gps.checksum_ok(GGA.strip()[:-1] + b"8")
    assert not gps.checksum_ok(b"GPGGA,1*00")
    assert not gps.checksum_ok(b"$GPGGA,1")


def test_gga_position_in_integer_microdegrees():
    p = _parser()
    assert p.feed(GGA)
    # 48 deg 07.038 min = 48.1173 deg; 11 deg 31.000 min = 11.516667 deg
    assert p.position() == (48117300, 11516667)
    assert p.sats == 8


def test_southern_western_hemispheres():
    line = b"GPGGA,000001,3356.4567,S,15112.3456,W,1,05,1.0,10.0,M,0.0,M,,"
    c = 0
    for b in line:
        c ^= b
    p = _parser()
    assert p.feed(b"$" + line + b"*%02X" % c)
    assert p.position() == (-33940945, -151205760)


def test_rmc_gives_utc_time():
    p = _parser()
    assert p.feed(RMC)
    # 1994-03-23 12:35:19 UTC
    assert p.epoch_s == 764426119
    assert p.position() == (48117300, 11516667)


def test_no_fix_and_garbage_are_ignored():
    p = _parser()
    assert not p.feed(GGA_NOFIX)
    assert not p.feed(b"$GPGGA,garbage*00")
    assert not p.feed(b"")
    assert p.position() == (None, None)
    assert p.bad == 2


def test_old_fix_is_not_used():
    now = [0]
    p = gps.Parser(lambda: now[0], lambda a, b: a - b)
    p.feed(GGA)
    now[0] = 10001
    assert p.position() == (None, None)
