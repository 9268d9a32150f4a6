"""BLE: bleak's own BLEDevice/AdvertisementData types, through a real BleakScanner with a bleak
backend that replays BlueZ-shaped advertisements (bleak's extension point, not a mock)."""

from __future__ import annotations

import asyncio
from typing import Any

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from edge_agent.sighting import Kind
from edge_agent.sources.ble import BleScanner, address_bytes, sighting_from_advertisement

APPLE, MICROSOFT = 0x004C, 0x0006
FAST_PAIR = "0000fe2c-0000-1000-8000-00805f9b34fb"

# (address, AddressType, rssi, manufacturer data, service uuids) of typical street traffic:
# an iPhone's Continuity "nearby info", a Windows laptop's CDP beacon, an Android Fast Pair earbud,
# a public-address fitness band.
ADVERTS = [
    ("4C:6F:2A:91:3B:07", "random", -67, {APPLE: bytes.fromhex("1005031c0b2a4d")}, []),
    ("0E:22:AB:6C:11:F0", "random", -81, {MICROSOFT: bytes.fromhex("0109202215a1b2c3d4e5f60718")}, []),
    ("F8:4D:89:10:22:33", "public", -74, {}, [FAST_PAIR]),
    ("C8:0F:10:AA:BB:CC", "public", -90, {0x0157: b"\x01\x02"}, []),
]


def bluez_pair(
    address: str, kind: str, rssi: int, mfr: dict, uuids: list
) -> tuple[BLEDevice, AdvertisementData]:
    path = "/org/bluez/hci0/dev_" + address.replace(":", "_")
    props: dict[str, Any] = {"Address": address, "AddressType": kind, "RSSI": rssi, "ManufacturerData": mfr,
                             "UUIDs": uuids}  # fmt: skip
    adv = AdvertisementData(
        local_name=None,
        manufacturer_data=mfr,
        service_data={},
        service_uuids=uuids,
        tx_power=None,
        rssi=rssi,
        platform_data=(path, props),
    )
    return BLEDevice(address, None, {"path": path, "props": props}), adv


class ReplayBackend(BaseBleakScanner):
    """A bleak scanner backend that emits a fixed set of advertisements after start(), the way the
    BlueZ backend does (create_or_update_device, then call_detection_callbacks)."""

    started = 0

    def __init__(self, detection_callback, service_uuids, scanning_mode, **kwargs) -> None:
        super().__init__(detection_callback, service_uuids)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ReplayBackend.started += 1
        self.seen_devices = {}
        self._task = asyncio.get_running_loop().create_task(self._emit(), name="replay-adverts")

    async def _emit(self) -> None:
        for advert in ADVERTS:
            device, adv = bluez_pair(*advert)
            device = self.create_or_update_device(
                device.details["path"], device.address, None, device.details, adv
            )
            self.call_detection_callbacks(device, adv)
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()

    def set_scanning_filter(self, **kwargs) -> None:
        raise NotImplementedError


def test_sighting_from_bleak_types() -> None:
    device, adv = bluez_pair(*ADVERTS[0])
    s = sighting_from_advertisement(device, adv, 1_700_000_000_000)
    assert s is not None
    assert (s.kind, s.address, s.rssi, s.randomized) == (Kind.BLE, bytes.fromhex("4c6f2a913b07"), -67, True)
    public = sighting_from_advertisement(*bluez_pair(*ADVERTS[2]), 0)
    assert public is not None
    assert not public.randomized
    # The same phone after an address rotation: same traits, same fingerprint.
    rotated = sighting_from_advertisement(
        *bluez_pair("7A:01:02:03:04:05", "random", -60, ADVERTS[0][3], []), 0
    )
    assert rotated is not None
    assert rotated.fingerprint == s.fingerprint != public.fingerprint
    mac_os = BLEDevice("8E2B0A6C-3F1D-4B8E-9C1A-2F6D5E4B3A21", None, None)
    assert sighting_from_advertisement(mac_os, adv, 0) is None
    assert address_bytes("zz:zz:zz:zz:zz:zz") is None


async def test_scanner_duty_cycle_through_bleak() -> None:
    ReplayBackend.started = 0
    source = BleScanner(scan_s=0.3, idle_s=0.1, backend=ReplayBackend)
    got = []
    async with asyncio.timeout(5):
        async for s in source.sightings():
            got.append(s)
            if len(got) == 2 * len(ADVERTS):
                break
    assert ReplayBackend.started == 2  # one scan window ended, the next one started
    assert [s.rssi for s in got] == [a[2] for a in ADVERTS] * 2
    assert [s.randomized for s in got[:4]] == [True, True, False, False]
