"""The gpsd client against a small real TCP server on loopback speaking gpsd's JSON protocol."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from edge_agent.gps import FixMode, Track
from edge_agent.gps.gpsd import WATCH, GpsdClient

# What gpsd 3.22 sends to a JSON watcher, one object per line (format of gpsd_json(5)).
VERSION = b'{"class":"VERSION","release":"3.22","rev":"3.22","proto_major":3,"proto_minor":14}\r\n'
REPLY = (
    b'{"class":"DEVICES","devices":[{"class":"DEVICE","path":"/dev/ttyACM0","driver":"u-blox",'
    b'"subtype":"SW ROM CORE 3.01 (107888),HW 00080000","activated":"2023-02-23T05:52:59.123Z",'
    b'"flags":1,"native":1,"bps":9600,"parity":"N","stopbits":1,"cycle":1.00,"mincycle":0.25}]}\r\n'
    b'{"class":"WATCH","enable":true,"json":true,"nmea":false,"raw":0,"scaled":false,"timing":false,'
    b'"split24":false,"pps":false}\r\n'
)
EPOCHS = (
    b'{"class":"TPV","device":"/dev/ttyACM0","mode":1,"time":"2023-02-23T05:53:00.000Z",'
    b'"ept":0.005}\r\n'
    b'{"class":"SKY","device":"/dev/ttyACM0","xdop":0.54,"ydop":0.77,"vdop":0.82,"tdop":0.91,'
    b'"hdop":0.94,"gdop":1.60,"pdop":1.25,"nSat":12,"uSat":8,"satellites":['
    b'{"PRN":5,"el":31.0,"az":86.0,"ss":29.0,"used":true,"gnssid":0,"svid":5},'
    b'{"PRN":13,"el":59.0,"az":295.0,"ss":33.0,"used":true,"gnssid":0,"svid":13}]}\r\n'
    b'{"class":"TPV","device":"/dev/ttyACM0","status":2,"mode":3,"time":"2023-02-23T05:53:01.000Z",'
    b'"leapseconds":18,"ept":0.005,"lat":49.226655333,"lon":16.597371167,"altHAE":299.3040,'
    b'"altMSL":255.6080,"alt":255.6080,"track":71.4812,"magtrack":76.1004,"magvar":4.6,"speed":12.473,'
    b'"climb":-0.051,"eps":0.54,"epc":5.01,"geoidSep":43.696,"eph":3.180,"sep":5.600}\r\n'
    b'{"class":"TPV","device":"/dev/ttyACM0","status":2,"mode":2,"time":"2023-02-23T05:53:02.000Z",'
    b'"ept":0.005,"lat":49.226702,"lon":16.597520,"track":71.5,"speed":12.5}\r\n'
)


class FakeGpsd:
    """Not a mock: a TCP server that answers a WATCH exactly as gpsd does, then reports epochs.
    ``connections`` counts sessions so the test can see the client reconnect."""

    def __init__(self, drop_after_first: bool) -> None:
        self.connections = 0
        self.drop_after_first = drop_after_first
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.write(VERSION)
        assert await reader.readline() == WATCH
        writer.write(REPLY + EPOCHS)
        await writer.drain()
        if self.drop_after_first and self.connections == 1:
            writer.close()
            return
        await reader.read()  # stay connected until the client leaves
        writer.close()


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize("drop", [False, True])
async def test_tpv_and_sky_become_fixes_and_the_client_reconnects(drop: bool) -> None:
    gpsd = FakeGpsd(drop_after_first=drop)
    server = await asyncio.start_server(gpsd.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = GpsdClient("127.0.0.1", port, max_backoff_s=0.2)
    fixes = client.fixes()
    got = []
    async with server, asyncio.timeout(10):
        while len(got) < (6 if drop else 3):
            got.append(await anext(fixes))
        await fixes.aclose()
    assert got[0].mode == FixMode.NO_FIX
    assert not got[0].has_position
    three_d = got[1]
    assert three_d.ts_ms == ms("2023-02-23T05:53:01")
    assert (three_d.lat, three_d.lon, three_d.alt_m) == (49.226655333, 16.597371167, 255.608)
    assert (three_d.speed_mps, three_d.course_deg, three_d.satellites, three_d.hdop) == (
        12.473,
        71.4812,
        8,
        0.94,
    )
    assert got[2].mode == FixMode.TWO_D
    assert got[2].alt_m is None
    assert gpsd.connections == (2 if drop else 1)
    track = Track()
    for fix in got[:3]:
        track.add(fix)
    assert track.nearest(ms("2023-02-23T05:53:01.400"), max_gap_ms=2000) is got[1]
    assert track.nearest(ms("2023-02-23T05:53:01.600"), max_gap_ms=2000) is got[2]
    assert track.nearest(ms("2023-02-23T05:53:09"), max_gap_ms=2000) is None
    assert track.latest is got[2]
