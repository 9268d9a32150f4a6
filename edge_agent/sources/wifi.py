"""A WiFi probe request as the agent sees it: capture frame -> radiotap -> 802.11 -> ProbeRequest."""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.exceptions import FrameError
from edge_agent.sighting import Kind, Sighting, is_locally_administered
from edge_agent.sources.dot11 import parse_probe_request
from edge_agent.sources.pcapfile import LINKTYPE_IEEE802_11, LINKTYPE_IEEE802_11_RADIOTAP, CaptureFrame
from edge_agent.sources.radiotap import channel_of, parse_radiotap


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    """One probe request with the radio facts that came with it.

    ``rssi`` is the radiotap dBm antenna signal (None without radiotap or without that field);
    ``freq_mhz``/``channel`` where the radio was listening.
    """

    ts_ns: int
    src: bytes
    dst: bytes
    seq_num: int
    retry: bool
    rssi: int | None
    freq_mhz: int | None
    channel: int | None
    ssids: tuple[str, ...]
    ie_ids: tuple[int, ...]
    vendor_ouis: tuple[int, ...]
    fingerprint: bytes

    @property
    def randomized(self) -> bool:
        return is_locally_administered(self.src)

    def sighting(self) -> Sighting:
        return Sighting(
            ts_ms=self.ts_ns // 1_000_000,
            kind=Kind.WIFI,
            address=self.src,
            rssi=self.rssi,
            randomized=self.randomized,
            directed=bool(self.ssids),
            fingerprint=self.fingerprint,
        )


def parse_probe(frame: CaptureFrame) -> ProbeRequest:
    """Parse a captured frame; raises FrameError if it is not a readable probe request."""
    data = frame.data
    end = len(data)
    if frame.linktype == LINKTYPE_IEEE802_11_RADIOTAP:
        rt = parse_radiotap(data)
        if rt.bad_fcs:
            raise FrameError("radiotap", "frame failed its FCS check")
        if rt.fcs_at_end:
            end -= 4
        start, rssi, freq = rt.length, rt.dbm_signal, rt.freq_mhz
    elif frame.linktype == LINKTYPE_IEEE802_11:
        start, rssi, freq = 0, None, None
    else:
        raise FrameError("capture", f"link type {frame.linktype} is not 802.11 or radiotap")
    dot11 = parse_probe_request(data, start, end)
    return ProbeRequest(
        ts_ns=frame.ts_ns,
        src=dot11.src,
        dst=dot11.dst,
        seq_num=dot11.seq_num,
        retry=dot11.retry,
        rssi=rssi,
        freq_mhz=freq,
        channel=channel_of(freq) if freq else None,
        ssids=dot11.ssids,
        ie_ids=dot11.ie_ids,
        vendor_ouis=dot11.vendor_ouis,
        fingerprint=dot11.fingerprint,
    )
