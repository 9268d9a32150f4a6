"""pcap and pcapng capture files, read frame by frame with no dependency.

Both formats are detected from their first four bytes, in either byte order. pcap carries one link
type and micro- or nanosecond stamps; pcapng carries sections (each with its own byte order) and
interfaces (each with its own link type and timestamp resolution, ``if_tsresol``/``if_tsoffset``).
Timestamps come out as integer nanoseconds since the epoch so no precision is lost on the way to
millisecond observations. A file cut short (a capture still being written, a power cut) yields every
complete frame and then raises CaptureFormatError with the offset where it stopped.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from edge_agent.exceptions import CaptureFormatError

LINKTYPE_IEEE802_11 = 105
LINKTYPE_IEEE802_11_RADIOTAP = 127

_PCAP_MAGIC = {0xA1B2C3D4: 1_000, 0xA1B23C4D: 1}  # magic -> nanoseconds per timestamp unit
_PCAPNG_SHB = 0x0A0D0D0A
_PCAPNG_BOM = 0x1A2B3C4D
_IDB, _OPB, _SPB, _EPB = 1, 2, 3, 6
_OPT_END, _OPT_TSRESOL, _OPT_TSOFFSET = 0, 9, 14


@dataclass(frozen=True, slots=True)
class CaptureFrame:
    """One captured frame: when (ns since epoch), how to read it (link type) and its bytes."""

    ts_ns: int
    linktype: int
    data: bytes
    orig_len: int


def read_capture(path: str | Path) -> Iterator[CaptureFrame]:
    """Yield every frame of a pcap or pcapng file, whichever it is."""
    with open(path, "rb") as f:
        yield from read_capture_stream(f, name=str(path))


def read_capture_stream(f: BinaryIO, name: str | None = None) -> Iterator[CaptureFrame]:
    """Yield every frame from an open binary stream holding pcap or pcapng."""
    head = f.read(4)
    if len(head) < 4:
        raise CaptureFormatError("file is shorter than a capture header", path=name, offset=0)
    if struct.unpack("<I", head)[0] == _PCAPNG_SHB:
        yield from _read_pcapng(f, head, name)
        return
    for order in "<>":
        magic = struct.unpack(order + "I", head)[0]
        if magic in _PCAP_MAGIC:
            yield from _read_pcap(f, order, _PCAP_MAGIC[magic], name)
            return
    raise CaptureFormatError(f"unknown magic {head.hex()}: neither pcap nor pcapng", path=name, offset=0)


def _read_pcap(f: BinaryIO, order: str, ns_per_unit: int, name: str | None) -> Iterator[CaptureFrame]:
    rest = f.read(20)
    if len(rest) < 20:
        raise CaptureFormatError("pcap global header cut short", path=name, offset=4)
    network = struct.unpack(order + "HHiIII", rest)[5]
    linktype = network & 0xFFFF
    record = struct.Struct(order + "IIII")
    offset = 24
    read = f.read
    while True:
        hdr = read(16)
        if not hdr:
            return
        if len(hdr) < 16:
            raise CaptureFormatError("record header cut short", path=name, offset=offset)
        sec, frac, incl, orig = record.unpack(hdr)
        data = read(incl)
        if len(data) < incl:
            raise CaptureFormatError("record data cut short", path=name, offset=offset)
        offset += 16 + incl
        yield CaptureFrame(sec * 1_000_000_000 + frac * ns_per_unit, linktype, data, orig)


@dataclass(slots=True)
class _Interface:
    linktype: int
    ns_num: int  # timestamp unit as a fraction of a second: ns = ts * ns_num // ns_den
    ns_den: int
    offset_s: int


def _read_pcapng(f: BinaryIO, head: bytes, name: str | None) -> Iterator[CaptureFrame]:
    order = "<"
    interfaces: list[_Interface] = []
    offset = 0
    block_type_raw = head
    while True:
        if offset:
            block_type_raw = f.read(4)
            if not block_type_raw:
                return
            if len(block_type_raw) < 4:
                raise CaptureFormatError("block header cut short", path=name, offset=offset)
        length_raw = f.read(4)
        if len(length_raw) < 4:
            raise CaptureFormatError("block header cut short", path=name, offset=offset)
        if struct.unpack("<I", block_type_raw)[0] == _PCAPNG_SHB:
            bom = f.read(4)
            if len(bom) < 4:
                raise CaptureFormatError("section header cut short", path=name, offset=offset)
            order = "<" if struct.unpack("<I", bom)[0] == _PCAPNG_BOM else ">"
            if struct.unpack(order + "I", bom)[0] != _PCAPNG_BOM:
                raise CaptureFormatError("bad byte-order magic in section header", path=name, offset=offset)
            total = struct.unpack(order + "I", length_raw)[0]
            body = bom + f.read(total - 12)
            interfaces = []  # interface ids are per section
        else:
            total = struct.unpack(order + "I", length_raw)[0]
            body = f.read(total - 8)
        if total < 12 or total % 4 or len(body) != total - 8:
            raise CaptureFormatError(
                f"block of length {total} cut short or misaligned", path=name, offset=offset
            )
        if body[-4:] != length_raw:
            raise CaptureFormatError("trailing block length does not match", path=name, offset=offset)
        block_type = struct.unpack(order + "I", block_type_raw)[0]
        if block_type == _IDB:
            interfaces.append(_interface(body, order))
        elif block_type == _EPB:
            iface_id, ts_hi, ts_lo, cap, orig = struct.unpack_from(order + "IIIII", body, 0)
            yield _frame(interfaces, iface_id, (ts_hi << 32) | ts_lo, body[20 : 20 + cap], orig, name, offset)
        elif block_type == _SPB:
            orig = struct.unpack_from(order + "I", body, 0)[0]
            cap = min(orig, len(body) - 8)
            yield _frame(interfaces, 0, None, body[4 : 4 + cap], orig, name, offset)
        elif block_type == _OPB:
            iface_id, _drops, ts_hi, ts_lo, cap, orig = struct.unpack_from(order + "HHIIII", body, 0)
            yield _frame(interfaces, iface_id, (ts_hi << 32) | ts_lo, body[20 : 20 + cap], orig, name, offset)
        offset += total


def _interface(body: bytes, order: str) -> _Interface:
    linktype = struct.unpack_from(order + "H", body, 0)[0]
    iface = _Interface(linktype, 1_000_000_000, 1_000_000, 0)  # default resolution: microseconds
    pos = 8
    while pos + 4 <= len(body) - 4:
        code, length = struct.unpack_from(order + "HH", body, pos)
        value = body[pos + 4 : pos + 4 + length]
        if code == _OPT_END:
            break
        if code == _OPT_TSRESOL and length >= 1:
            exp = value[0] & 0x7F
            base = 2 if value[0] & 0x80 else 10
            iface.ns_num, iface.ns_den = 1_000_000_000, base**exp
        elif code == _OPT_TSOFFSET and length >= 8:
            iface.offset_s = struct.unpack(order + "q", value[:8])[0]
        pos += 4 + ((length + 3) & ~3)
    return iface


def _frame(
    interfaces: list[_Interface],
    iface_id: int,
    ts: int | None,
    data: bytes,
    orig: int,
    name: str | None,
    offset: int,
) -> CaptureFrame:
    if iface_id >= len(interfaces):
        raise CaptureFormatError(
            f"packet names interface {iface_id}, not described", path=name, offset=offset
        )
    iface = interfaces[iface_id]
    ts_ns = 0 if ts is None else ts * iface.ns_num // iface.ns_den + iface.offset_s * 1_000_000_000
    return CaptureFrame(ts_ns, iface.linktype, bytes(data), orig)
