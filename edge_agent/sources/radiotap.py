"""Radiotap header parsing (https://www.radiotap.org), written with ``struct`` on purpose.

Why not scapy: scapy builds a layered packet object per frame (about 1-2 ms each on a Pi) and pulls in
a large dependency; the agent needs five fields from a header whose layout repeats frame after frame.
So the layout of every distinct "present" bitmap is compiled once into fixed offsets (cached), and a
frame costs one dict lookup plus a few ``unpack_from`` calls.

Layout rules followed: little-endian; the present bitmaps chain through bit 31; bit 29 starts a new
radiotap namespace (field numbers restart at 0), bit 30 a vendor namespace whose data begins with an
OUI, sub-namespace and ``skip_length`` that says how much to skip; every field is aligned to its
natural size relative to the start of the header. A field number this parser does not know stops the
walk: its size cannot be known, so fields after it cannot be located (the ones before stay usable).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from edge_agent.exceptions import FrameError

# field number -> (alignment, size) in the radiotap namespace, from the defined-fields list.
_FIELDS: dict[int, tuple[int, int]] = {
    0: (8, 8),  # TSFT
    1: (1, 1),  # Flags
    2: (1, 1),  # Rate
    3: (2, 4),  # Channel: u16 frequency MHz, u16 flags
    4: (1, 2),  # FHSS
    5: (1, 1),  # dBm antenna signal
    6: (1, 1),  # dBm antenna noise
    7: (2, 2),  # Lock quality
    8: (2, 2),  # TX attenuation
    9: (2, 2),  # dB TX attenuation
    10: (1, 1),  # dBm TX power
    11: (1, 1),  # Antenna
    12: (1, 1),  # dB antenna signal
    13: (1, 1),  # dB antenna noise
    14: (2, 2),  # RX flags
    15: (2, 2),  # TX flags
    16: (1, 1),  # RTS retries
    17: (1, 1),  # data retries
    18: (4, 8),  # XChannel
    19: (1, 3),  # MCS
    20: (4, 8),  # A-MPDU status
    21: (2, 12),  # VHT
    22: (8, 12),  # timestamp
    23: (2, 12),  # HE
    24: (2, 12),  # HE-MU
    25: (2, 6),  # HE-MU-other-user
    26: (1, 1),  # 0-length-PSDU
    27: (2, 4),  # L-SIG
}
_TSFT, _FLAGS, _CHANNEL, _DBM_SIGNAL, _DBM_NOISE, _ANTENNA = 0, 1, 3, 5, 6, 11
_NS_RADIOTAP, _NS_VENDOR, _EXT = 29, 30, 31

#: Flags field bits that change how the 802.11 frame after the header must be read.
FLAG_FCS_AT_END = 0x10
FLAG_BAD_FCS = 0x40

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_HDR = struct.Struct("<BBH")
_CHANNEL_FIELD = struct.Struct("<HH")
_TSFT_FIELD = struct.Struct("<Q")


@dataclass(frozen=True, slots=True)
class _Layout:
    """Offsets (from the header start) of the fields the agent reads, or -1 if absent/unreachable."""

    tsft: int
    flags: int
    channel: int
    dbm_signal: int
    dbm_noise: int
    antenna: int


@dataclass(frozen=True, slots=True)
class RadiotapHeader:
    """What the agent uses from one radiotap header. ``length`` is where the 802.11 frame starts."""

    length: int
    tsft_us: int | None
    flags: int
    freq_mhz: int | None
    channel_flags: int | None
    dbm_signal: int | None
    dbm_noise: int | None
    antenna: int | None

    @property
    def fcs_at_end(self) -> bool:
        """True when the 802.11 frame carries its 4-byte FCS, which must not be read as an IE."""
        return bool(self.flags & FLAG_FCS_AT_END)

    @property
    def bad_fcs(self) -> bool:
        """True when the receiver says the frame failed its checksum."""
        return bool(self.flags & FLAG_BAD_FCS)


_layouts: dict[bytes, _Layout] = {}


def _compile(buf: bytes, header_len: int) -> tuple[bytes, _Layout]:
    """Walk the present bitmaps once; return (bitmap bytes used as cache key, field offsets)."""
    words: list[int] = []
    pos = 4
    while True:
        if pos + 4 > header_len:
            raise FrameError("radiotap", "present bitmap runs past the header")
        word = _U32.unpack_from(buf, pos)[0]
        words.append(word)
        pos += 4
        if not word & (1 << _EXT):
            break
    key = bytes(buf[4:pos])
    found = {_TSFT: -1, _FLAGS: -1, _CHANNEL: -1, _DBM_SIGNAL: -1, _DBM_NOISE: -1, _ANTENNA: -1}
    offset = pos
    namespace = "radiotap"
    radiotap_index = 0  # fields come from the first radiotap namespace; later ones repeat per chain
    base = 0  # field number of bit 0 of the current word within its namespace
    for word in words:
        if namespace == "radiotap":
            for bit in range(29):
                if not word & (1 << bit):
                    continue
                spec = _FIELDS.get(base + bit)
                if spec is None:  # unknown size: nothing after it can be located
                    return key, _Layout(*found.values())
                align, size = spec
                offset = (offset + align - 1) & ~(align - 1)
                if radiotap_index == 0 and found.get(base + bit) == -1:
                    found[base + bit] = offset
                offset += size
        elif namespace == "vendor-start":
            offset = (offset + 1) & ~1
            if offset + 6 > header_len:
                raise FrameError("radiotap", "vendor namespace header runs past the header")
            offset += 6 + _U16.unpack_from(buf, offset + 4)[0]
            namespace = "vendor"
        if word & (1 << _NS_RADIOTAP):
            namespace, base, radiotap_index = "radiotap", 0, radiotap_index + 1
        elif word & (1 << _NS_VENDOR):
            namespace, base = "vendor-start", 0
        else:
            base += 32
    return key, _Layout(*found.values())


def parse_radiotap(buf: bytes) -> RadiotapHeader:
    """Parse the radiotap header at the start of ``buf``; raises FrameError when it is malformed."""
    if len(buf) < 8:
        raise FrameError("radiotap", f"{len(buf)} bytes is shorter than a radiotap header")
    version, _pad, header_len = _HDR.unpack_from(buf, 0)
    if version != 0:
        raise FrameError("radiotap", f"unknown radiotap version {version}")
    if header_len < 8 or header_len > len(buf):
        raise FrameError("radiotap", f"header length {header_len} outside the {len(buf)}-byte frame")
    present_end = 8
    while buf[present_end - 1] & 0x80:  # bit 31 of the current little-endian word: another follows
        present_end += 4
        if present_end > header_len:
            raise FrameError("radiotap", "present bitmap runs past the header")
    layout = _layouts.get(bytes(buf[4:present_end]))
    if layout is None:
        key, layout = _compile(buf, header_len)
        _layouts[key] = layout
    signal = _byte(buf, layout.dbm_signal, header_len)
    noise = _byte(buf, layout.dbm_noise, header_len)
    channel = layout.channel
    freq = chan_flags = None
    if channel >= 0 and channel + 4 <= header_len:
        freq, chan_flags = _CHANNEL_FIELD.unpack_from(buf, channel)
    tsft = layout.tsft
    return RadiotapHeader(
        length=header_len,
        tsft_us=_TSFT_FIELD.unpack_from(buf, tsft)[0] if tsft >= 0 and tsft + 8 <= header_len else None,
        flags=_byte(buf, layout.flags, header_len) or 0,
        freq_mhz=freq,
        channel_flags=chan_flags,
        dbm_signal=signal - 256 if signal is not None and signal > 127 else signal,
        dbm_noise=noise - 256 if noise is not None and noise > 127 else noise,
        antenna=_byte(buf, layout.antenna, header_len),
    )


def _byte(buf: bytes, offset: int, header_len: int) -> int | None:
    return buf[offset] if 0 <= offset < header_len else None


def channel_of(freq_mhz: int) -> int | None:
    """IEEE channel number for a centre frequency in the 2.4, 5 and 6 GHz bands, else None."""
    if freq_mhz == 2484:
        return 14
    if 2412 <= freq_mhz <= 2472:
        return (freq_mhz - 2407) // 5
    if 5955 <= freq_mhz <= 7115:
        return (freq_mhz - 5950) // 5
    if 5000 <= freq_mhz <= 5900:
        return (freq_mhz - 5000) // 5
    return None
