"""IEEE 802.11 management frames: just enough to read a probe request, with ``struct``.

A probe request is a management frame (type 0, subtype 4): a 24-byte MAC header (frame control,
duration, addr1 = destination, addr2 = source, addr3 = BSSID, sequence control) and then a run of
information elements (id, length, body). The IEs a phone sends are a stable trait of its chipset and
driver, so their ids and the bodies of the capability IEs make a fingerprint that survives MAC
randomisation; it is only ever used hashed (see ``edge_agent.privacy``).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from edge_agent.exceptions import FrameError

MGMT_HEADER_LEN = 24
_FC_PROBE_REQUEST = 0x40  # first frame-control byte: version 0, type 0 (mgmt), subtype 4
_FC_RETRY = 0x08  # second frame-control byte
IE_SSID = 0
IE_VENDOR = 221
IE_EXTENSION = 255

# IEs whose body describes the device (capabilities), not the moment (SSID, channel, WPS nonce):
# rates, extended rates, HT/VHT capabilities, extended capabilities, interworking, operating
# classes; vendor IEs contribute their OUI and type only; extension IEs their extension id.
_STABLE_BODY_IES = frozenset({1, 45, 50, 59, 107, 127, 191})

_SEQ = struct.Struct("<H")


@dataclass(frozen=True, slots=True)
class ProbeRequestFrame:
    """The parts of one 802.11 probe request the agent keeps.

    ``ssids`` are the networks asked for (a wildcard probe asks for none); ``ie_ids`` lists element
    ids in frame order; ``vendor_ouis`` the OUIs of vendor-specific elements (as 24-bit ints);
    ``fingerprint`` is a 16-byte digest of the IE structure; ``truncated`` says the last element ran
    past the frame (common in real captures; the elements before it are still good).
    """

    dst: bytes
    src: bytes
    bssid: bytes
    seq_num: int
    frag_num: int
    retry: bool
    ssids: tuple[str, ...]
    ie_ids: tuple[int, ...]
    vendor_ouis: tuple[int, ...]
    fingerprint: bytes
    truncated: bool


def parse_probe_request(buf: bytes, start: int = 0, end: int | None = None) -> ProbeRequestFrame:
    """Parse the probe request in ``buf[start:end]``; raises FrameError for anything else."""
    end = len(buf) if end is None else end
    if end - start < MGMT_HEADER_LEN:
        raise FrameError("802.11", f"{end - start} bytes is shorter than a management header")
    if buf[start] != _FC_PROBE_REQUEST:
        raise FrameError("802.11", f"frame control 0x{buf[start]:02x} is not a probe request")
    seq_ctrl = _SEQ.unpack_from(buf, start + 22)[0]
    ssids: list[str] = []
    ie_ids: list[int] = []
    ouis: list[int] = []
    material = bytearray()
    pos = start + MGMT_HEADER_LEN
    truncated = False
    while pos < end:
        if pos + 2 > end:
            truncated = True
            break
        ie_id = buf[pos]
        length = buf[pos + 1]
        body_start = pos + 2
        pos = body_start + length
        if pos > end:
            truncated = True
            break
        ie_ids.append(ie_id)
        material.append(ie_id)
        if ie_id == IE_SSID:
            if length:
                ssids.append(bytes(buf[body_start:pos]).decode("utf-8", "replace"))
        elif ie_id == IE_VENDOR:
            if length >= 3:
                ouis.append(int.from_bytes(buf[body_start : body_start + 3], "big"))
            material += buf[body_start : body_start + min(length, 4)]
        elif ie_id == IE_EXTENSION:
            material += buf[body_start : body_start + min(length, 1)]
        elif ie_id in _STABLE_BODY_IES:
            material.append(length)
            material += buf[body_start:pos]
    return ProbeRequestFrame(
        dst=bytes(buf[start + 4 : start + 10]),
        src=bytes(buf[start + 10 : start + 16]),
        bssid=bytes(buf[start + 16 : start + 22]),
        seq_num=seq_ctrl >> 4,
        frag_num=seq_ctrl & 0x0F,
        retry=bool(buf[start + 1] & _FC_RETRY),
        ssids=tuple(ssids),
        ie_ids=tuple(ie_ids),
        vendor_ouis=tuple(ouis),
        fingerprint=hashlib.blake2b(material, digest_size=16).digest(),
        truncated=truncated,
    )
