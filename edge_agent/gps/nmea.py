"""NMEA 0183 from a GPS receiver on a serial line, parsed with pynmea2.

A receiver sends a burst of sentences per epoch (typically RMC, VTG, GGA, GSA, GSV once a second),
each carrying part of the picture: RMC the date, position and speed; GGA the fix quality, satellites,
HDOP and altitude; VTG speed and course; GSA the 2D/3D mode. ``NmeaAssembler`` merges them into one
``Fix`` per epoch (same time of day); ``NmeaSerial`` reads a tty with asyncio and feeds it.
GGA carries no date: positions wait for the first RMC to date them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
import tty
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time

import pynmea2
import structlog

from edge_agent.exceptions import GpsError
from edge_agent.gps.fix import Fix, FixMode

log = structlog.get_logger(__name__)

_KNOTS_TO_MPS = 0.514444
_BAUD = {4800: termios.B4800, 9600: termios.B9600, 19200: termios.B19200, 38400: termios.B38400,
         57600: termios.B57600, 115200: termios.B115200}  # fmt: skip


def parse_sentence(line: str) -> pynmea2.NMEASentence:
    """One sentence, checksum verified; raises GpsError for anything pynmea2 rejects."""
    try:
        return pynmea2.parse(line.strip(), check=True)
    except (pynmea2.ParseError, pynmea2.SentenceTypeError, ValueError) as e:
        raise GpsError("nmea", f"{line.strip()[:82]!r}: {e}") from e


class NmeaAssembler:
    """Merges the sentences of one epoch into a Fix; ``feed`` returns the epoch's fix so far
    whenever a sentence with position or fix state arrives (later sentences refine it)."""

    def __init__(self) -> None:
        self._date: date | None = None
        self._epoch: time | None = None
        self._fields: dict[str, object] = {}
        self._mode = FixMode.UNKNOWN

    def feed(self, line: str) -> Fix | None:
        msg = parse_sentence(line)
        kind = msg.sentence_type
        if kind == "GSA":
            self._mode = FixMode(int(msg.mode_fix_type)) if msg.mode_fix_type else FixMode.UNKNOWN
            return None
        if kind == "VTG":
            if msg.spd_over_grnd_kmph is not None:
                self._fields["speed_mps"] = float(msg.spd_over_grnd_kmph) / 3.6
            if msg.true_track is not None:
                self._fields["course_deg"] = float(msg.true_track)
            return None
        if kind == "RMC":
            if msg.datestamp:
                self._date = msg.datestamp
            self._start_epoch(msg.timestamp)
            valid = msg.status == "A"
            if valid:
                self._fields.update(lat=msg.latitude, lon=msg.longitude)
                if msg.spd_over_grnd is not None:
                    self._fields["speed_mps"] = float(msg.spd_over_grnd) * _KNOTS_TO_MPS
                if msg.true_course is not None:
                    self._fields["course_deg"] = float(msg.true_course)
            else:
                self._fields.update(lat=None, lon=None)
            return self._fix(valid)
        if kind == "GGA":
            self._start_epoch(msg.timestamp)
            quality = int(msg.gps_qual or 0)
            self._fields.update(
                quality=quality,
                satellites=int(msg.num_sats) if msg.num_sats else None,
                hdop=float(msg.horizontal_dil) if msg.horizontal_dil else None,
                alt_m=float(msg.altitude) if msg.altitude is not None else None,
            )
            if quality > 0:
                self._fields.update(lat=msg.latitude, lon=msg.longitude)
            else:
                self._fields.update(lat=None, lon=None)
            return self._fix(quality > 0)
        return None

    def _start_epoch(self, at: time | None) -> None:
        if at != self._epoch:
            self._epoch = at
            self._fields = {}

    def _fix(self, valid: bool) -> Fix | None:
        """The epoch's fix. A position needs a date, which only RMC gives: a valid GGA before the
        first RMC yields nothing (every receiver sends RMC by default). A no-fix report is stamped
        with the system clock when the receiver gives no time, so the fix state stays current."""
        if not valid:
            if self._epoch is None or self._date is None:
                return Fix(ts_ms=int(datetime.now(UTC).timestamp() * 1000), mode=FixMode.NO_FIX)
            ts = datetime.combine(self._date, self._epoch.replace(tzinfo=UTC))
            return Fix(ts_ms=int(ts.timestamp() * 1000), mode=FixMode.NO_FIX)
        if self._epoch is None or self._date is None:
            return None
        ts = datetime.combine(self._date, self._epoch.replace(tzinfo=UTC))
        if self._mode >= FixMode.TWO_D:
            mode = self._mode
        else:
            mode = FixMode.THREE_D if self._fields.get("alt_m") is not None else FixMode.TWO_D
        return Fix(ts_ms=int(ts.timestamp() * 1000), mode=mode, **self._fields)  # type: ignore[arg-type]


class NmeaSerial:
    """Fixes from an NMEA receiver on a serial device (``/dev/ttyACM0``, ``/dev/serial0``).

    The tty is put in raw mode at ``baud``; lines that fail their checksum are logged and skipped
    (a serial line drops bytes); a device that goes away is reopened after ``retry_s``.
    """

    def __init__(self, path: str, baud: int = 9600, retry_s: float = 2.0) -> None:
        if baud not in _BAUD:
            raise GpsError("nmea", f"unsupported baud rate {baud}")
        self.name = f"nmea:{path}"
        self.path = path
        self.baud = baud
        self.retry_s = retry_s

    async def fixes(self) -> AsyncIterator[Fix]:
        while True:
            try:
                async for fix in self._read_once():
                    yield fix
            except OSError as e:
                log.warning("gps.nmea.device_lost", path=self.path, error=str(e))
            await asyncio.sleep(self.retry_s)

    async def _read_once(self) -> AsyncIterator[Fix]:
        fd = os.open(self.path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        with contextlib.ExitStack() as stack:
            stack.callback(os.close, fd)
            if os.isatty(fd):
                tty.setraw(fd, termios.TCSANOW)  # keep bytes already received
                attrs = termios.tcgetattr(fd)
                attrs[4] = attrs[5] = _BAUD[self.baud]
                termios.tcsetattr(fd, termios.TCSANOW, attrs)
            reader = asyncio.StreamReader()
            loop = asyncio.get_running_loop()
            transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(os.dup(fd), "rb", buffering=0)
            )
            stack.callback(transport.close)
            assembler = NmeaAssembler()
            while line := await reader.readline():
                text = line.decode("ascii", "replace")
                if not text.startswith("$"):
                    continue
                try:
                    fix = assembler.feed(text)
                except GpsError as e:
                    log.debug("gps.nmea.bad_sentence", reason=e.reason)
                    continue
                if fix is not None:
                    yield fix
