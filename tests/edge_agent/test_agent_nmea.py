"""NMEA parsing of real receiver sentences, and the serial reader on a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge_agent.exceptions import GpsError
from edge_agent.gps import FixMode
from edge_agent.gps.nmea import NmeaAssembler, NmeaSerial

DATA = Path(__file__).parent / "data"


def feed_all(name: str) -> list:
    assembler = NmeaAssembler()
    return [fix for line in (DATA / name).read_text().splitlines() if (fix := assembler.feed(line))]


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_sirf_epoch_merges_gga_gsa_rmc_vtg() -> None:
    fixes = feed_all("nmea-sirf.txt")
    last = fixes[-1]
    assert last.ts_ms == ms("1998-05-12T16:12:29.487")
    assert last.lat == pytest.approx(37 + 23.2475 / 60)
    assert last.lon == pytest.approx(-(121 + 58.3416 / 60))
    assert (last.quality, last.satellites, last.hdop, last.alt_m) == (1, 7, 1.0, 9.0)
    assert last.mode == FixMode.THREE_D
    assert last.speed_mps == pytest.approx(0.13 * 0.514444)
    assert last.course_deg == pytest.approx(309.62)
    assert last.lat_e6 == 37387458


def test_consecutive_epochs_are_separate_fixes() -> None:
    fixes = feed_all("nmea-adafruit.txt")
    # The first GGA comes before any RMC has given the date: it waits; then RMC, GGA, RMC.
    assert [f.ts_ms for f in fixes] == [ms("2011-05-28T09:27:50")] + [ms("2011-05-28T09:27:51")] * 2
    final = fixes[-1]
    assert final.lon == pytest.approx(-(6 + 30.3371 / 60))
    assert final.satellites == 8
    assert final.alt_m == 61.7  # the GGA of the same epoch survives the RMC that follows


def test_no_fix_sentences_and_gn_talkers() -> None:
    fixes = feed_all("nmea-ublox.txt")
    assert fixes[0].mode == FixMode.NO_FIX
    assert not fixes[0].has_position
    assert fixes[1].mode == FixMode.NO_FIX
    assert len(fixes) == 4  # the u-blox GGA and GLL have no date yet: no fix from them
    gn = fixes[-1]
    assert gn.has_position
    assert gn.ts_ms == ms("2017-01-10T00:10:43")  # GGA dated by the GN RMC before it
    assert gn.satellites == 12
    assert gn.alt_m == 1113.0


def test_bad_checksum_is_a_gps_error() -> None:
    with pytest.raises(GpsError) as err:
        NmeaAssembler().feed("$GPGGA,092750.000,5321.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,*77")
    assert err.value.source == "nmea"


async def test_serial_reader_on_a_pty() -> None:
    """A real tty pair: the test writes a receiver's bytes (with line noise) to the master side."""
    master, slave = os.openpty()
    source = NmeaSerial(os.ttyname(slave), baud=9600)
    lines = (DATA / "nmea-sirf.txt").read_text().splitlines()
    lines = lines[2:] + lines  # RMC first so the GGA can be dated
    noise = ["\x00\x7f$GPGG", "$GPGGA,161229.487,3723.2475,N,12158.3416,W,1,07,1.0,9.0,M,,,,0000*19"]
    try:
        os.write(master, ("\r\n".join(noise + lines) + "\r\n").encode())
        fixes = source.fixes()
        got = []
        async with asyncio.timeout(5):
            while len(got) < 3:
                got.append(await anext(fixes))
        await fixes.aclose()
    finally:
        os.close(master)
        os.close(slave)
    assert got[-1].ts_ms == ms("1998-05-12T16:12:29.487")
    assert [f.ts_ms for f in got] == [ms("1998-05-12T16:12:29.487")] * 3
    assert got[-1].satellites == 7
    assert got[-1].course_deg == pytest.approx(309.62)
