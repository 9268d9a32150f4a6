"""Live probe requests from a monitor-mode WiFi interface, through a Linux AF_PACKET socket.

Why not scapy or a tshark subprocess: a packet socket bound to a monitor interface (``wlan1mon``,
created with ``iw dev wlan1 interface add wlan1mon type monitor``) already delivers radiotap-framed
802.11 frames, so the agent reads them with the same parser it uses for pcap files, with no extra
process and no per-packet object layer. The kernel stamps each frame (SO_TIMESTAMPNS), which is
more accurate than reading the clock when Python gets around to the frame. Needs CAP_NET_RAW (the
systemd unit grants it).

The link type is taken from the interface's hardware type (803 radiotap, 801 bare 802.11); a
``linktype`` given explicitly overrides it (the tests feed radiotap frames through ``lo``).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

from edge_agent.exceptions import CaptureError, FrameError
from edge_agent.sighting import Sighting
from edge_agent.sources.pcapfile import LINKTYPE_IEEE802_11, LINKTYPE_IEEE802_11_RADIOTAP, CaptureFrame
from edge_agent.sources.wifi import parse_probe

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_ARPHRD_LINKTYPE = {803: LINKTYPE_IEEE802_11_RADIOTAP, 801: LINKTYPE_IEEE802_11}
_TIMESPEC = struct.Struct("@qq")
_SNAPLEN = 4096
_RCVBUF = 4 * 1024 * 1024
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


class MonitorInterface:
    """A SightingSource on a live monitor-mode interface."""

    def __init__(self, interface: str, linktype: int | None = None) -> None:
        self.name = f"monitor:{interface}"
        self.interface = interface
        self.linktype = linktype
        self.frames = 0
        self.skipped = 0

    def _open(self) -> socket.socket:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError as e:
            raise CaptureError(f"{self.interface}: packet sockets need CAP_NET_RAW") from e
        try:
            sock.bind((self.interface, 0))
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self._grow_buffer(sock)
            sock.setblocking(False)
        except OSError as e:
            sock.close()
            raise CaptureError(f"{self.interface}: {e.strerror or e}") from e
        return sock

    @staticmethod
    def _grow_buffer(sock: socket.socket) -> None:
        """A busy street sends bursts of probes; a 4 MiB buffer rides out a slow moment (an SD-card
        fsync) without kernel drops. RCVBUFFORCE passes rmem_max with CAP_NET_ADMIN; else best effort."""
        for option in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, _RCVBUF)
                return
            except PermissionError:
                continue

    async def sightings(self) -> AsyncIterator[Sighting]:
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        with self._open() as sock:
            loop.add_reader(sock.fileno(), readable.set)
            try:
                while True:
                    await readable.wait()
                    readable.clear()
                    for sighting in self._drain(sock):
                        yield sighting
            finally:
                loop.remove_reader(sock.fileno())

    def _drain(self, sock: socket.socket) -> list[Sighting]:
        """Everything the socket holds now (non-blocking), parsed; non-probes are skipped."""
        out: list[Sighting] = []
        while True:
            try:
                data, ancdata, _flags, addr = sock.recvmsg(_SNAPLEN, socket.CMSG_SPACE(_TIMESPEC.size))
            except BlockingIOError:
                return out
            if addr[2] == PACKET_OUTGOING:
                continue
            linktype = self.linktype or _ARPHRD_LINKTYPE.get(addr[3])
            if linktype is None:
                raise CaptureError(f"{self.interface}: hardware type {addr[3]} is not a monitor interface")
            ts_ns = next(
                (
                    sec * 1_000_000_000 + nsec
                    for level, kind, raw in ancdata
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS
                    for sec, nsec in [_TIMESPEC.unpack(raw[: _TIMESPEC.size])]
                ),
                None,
            )
            if ts_ns is None:
                raise CaptureError(f"{self.interface}: the kernel gave no receive timestamp")
            self.frames += 1
            try:
                out.append(parse_probe(CaptureFrame(ts_ns, linktype, data, len(data))).sighting())
            except FrameError:
                self.skipped += 1
