"""Fixes from gpsd over its JSON protocol (TCP 2947).

The client sends ``?WATCH={"enable":true,"json":true}`` and reads one JSON object per line: VERSION
on connect, DEVICES and WATCH in reply, then TPV (time-position-velocity) per epoch and SKY
(satellites, DOPs) as often as the receiver reports them. A TPV becomes a Fix; the satellite count and
HDOP come from the latest SKY. gpsd going away (restart, USB replug) is retried with capped backoff
inside ``fixes()``, so the agent's GPS task never dies of it.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import structlog

from edge_agent.exceptions import GpsError
from edge_agent.gps.fix import Fix, FixMode

log = structlog.get_logger(__name__)

WATCH = b'?WATCH={"enable":true,"json":true}\n'


def _ts_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


class GpsdReport:
    """Turns gpsd's JSON lines into fixes; pure, so it is tested on gpsd's own output."""

    def __init__(self) -> None:
        self.satellites: int | None = None
        self.hdop: float | None = None
        self.release: str | None = None

    def feed(self, line: bytes | str) -> Fix | None:
        try:
            obj: dict[str, Any] = json.loads(line)
        except ValueError as e:
            raise GpsError("gpsd", f"not JSON: {line[:80]!r}") from e
        kind = obj.get("class")
        if kind == "VERSION":
            self.release = obj.get("release")
        elif kind == "SKY":
            if "uSat" in obj:
                self.satellites = int(obj["uSat"])
            elif isinstance(obj.get("satellites"), list):
                self.satellites = sum(1 for s in obj["satellites"] if s.get("used"))
            if obj.get("hdop") is not None:
                self.hdop = float(obj["hdop"])
        elif kind == "TPV":
            return self._tpv(obj)
        elif kind == "ERROR":
            raise GpsError("gpsd", str(obj.get("message", "error reported by gpsd")))
        return None

    def _tpv(self, obj: dict[str, Any]) -> Fix | None:
        mode = FixMode(int(obj.get("mode", 0)))
        if "time" not in obj:
            return Fix(ts_ms=int(datetime.now().timestamp() * 1000), mode=min(mode, FixMode.NO_FIX))
        alt = obj.get("altMSL", obj.get("alt"))
        return Fix(
            ts_ms=_ts_ms(obj["time"]),
            mode=mode,
            lat=obj.get("lat") if mode >= FixMode.TWO_D else None,
            lon=obj.get("lon") if mode >= FixMode.TWO_D else None,
            alt_m=alt if mode == FixMode.THREE_D else None,
            speed_mps=obj.get("speed"),
            course_deg=obj.get("track"),
            satellites=self.satellites,
            hdop=self.hdop,
        )


class GpsdClient:
    """A FixSource reading gpsd at ``host:port``; reconnects with jittered capped backoff."""

    def __init__(self, host: str = "127.0.0.1", port: int = 2947, max_backoff_s: float = 30.0) -> None:
        self.name = f"gpsd:{host}:{port}"
        self.host = host
        self.port = port
        self.max_backoff_s = max_backoff_s

    async def fixes(self) -> AsyncIterator[Fix]:
        attempt = 0
        while True:
            try:
                async for fix in self._session():
                    attempt = 0
                    yield fix
                log.info("gps.gpsd.closed", host=self.host, port=self.port)
            except OSError as e:
                log.warning("gps.gpsd.unreachable", host=self.host, port=self.port, error=str(e))
            attempt += 1
            await asyncio.sleep(random.uniform(0, min(self.max_backoff_s, 0.5 * 2**attempt)))

    async def _session(self) -> AsyncIterator[Fix]:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(WATCH)
            await writer.drain()
            report = GpsdReport()
            while line := await reader.readline():
                try:
                    fix = report.feed(line)
                except GpsError as e:
                    log.warning("gps.gpsd.bad_report", reason=e.reason)
                    continue
                if fix is not None:
                    yield fix
        finally:
            writer.close()
