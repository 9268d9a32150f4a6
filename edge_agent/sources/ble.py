"""BLE advertisements through bleak's ``BleakScanner`` and its detection callback.

bleak calls the callback on the event loop for every advertisement; the callback turns it into a
Sighting at once (the raw address goes no further than the privacy boundary) and queues it, and
``sightings()`` drains the queue. Scanning runs in a duty cycle, ``scan_s`` on and ``idle_s`` off
(cloud-configurable "scan intervals": a Pi 3 shares one radio between WiFi and Bluetooth, and idling
leaves it to the WiFi side); ``idle_s = 0`` scans continuously.

Address type: on Linux (BlueZ) the device's ``AddressType`` property says public or random; a random
address (static or private) is what phones rotate every 10-20 minutes, so it sets the randomised
flag. The fingerprint covers the manufacturer ids (company identifiers) and service UUIDs a device
advertises, which stay put while its address rotates.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import structlog
from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError

from edge_agent.exceptions import CaptureError
from edge_agent.sighting import Kind, Sighting

log = structlog.get_logger(__name__)

_QUEUE_MAX = 10_000


def address_bytes(address: str) -> bytes | None:
    """``AA:BB:CC:DD:EE:FF`` as 6 bytes; None for anything else (macOS gives UUIDs, not MACs)."""
    raw = address.replace(":", "").replace("-", "")
    if len(raw) != 12:
        return None
    try:
        return bytes.fromhex(raw)
    except ValueError:
        return None


def address_type(device: BLEDevice, adv: AdvertisementData) -> str | None:
    """ "public" or "random" when the platform says (BlueZ ``AddressType``), else None."""
    for holder in (device.details, adv.platform_data[1] if len(adv.platform_data) > 1 else None):
        props = holder.get("props", holder) if isinstance(holder, dict) else None
        if isinstance(props, dict) and props.get("AddressType") in ("public", "random"):
            return props["AddressType"]
    return None


def ble_fingerprint(adv: AdvertisementData) -> bytes:
    """A digest of the advertised company ids and service UUIDs (sorted: order is not a trait)."""
    material = ",".join(
        [f"m{cid:04x}" for cid in sorted(adv.manufacturer_data)]
        + [f"s{uuid.lower()}" for uuid in sorted(adv.service_uuids)]
        + [f"d{uuid.lower()}" for uuid in sorted(adv.service_data)]
    )
    return hashlib.blake2b(material.encode(), digest_size=16).digest()


def sighting_from_advertisement(device: BLEDevice, adv: AdvertisementData, ts_ms: int) -> Sighting | None:
    """The Sighting of one advertisement, or None when the address is not a MAC."""
    address = address_bytes(device.address)
    if address is None:
        return None
    return Sighting(
        ts_ms=ts_ms,
        kind=Kind.BLE,
        address=address,
        rssi=adv.rssi,
        randomized=address_type(device, adv) == "random",
        fingerprint=ble_fingerprint(adv),
    )


class BleScanner:
    """A SightingSource on the Bluetooth adapter. ``backend`` selects a bleak scanner backend other
    than the platform's (bleak's own extension point; the tests use it)."""

    def __init__(
        self,
        adapter: str | None = None,
        scan_s: float = 10.0,
        idle_s: float = 0.0,
        backend: type[BaseBleakScanner] | None = None,
    ) -> None:
        self.name = f"ble:{adapter or 'default'}"
        self.adapter = adapter
        self.scan_s = scan_s
        self.idle_s = idle_s
        self.backend = backend
        self.overflowed = 0
        self.not_mac = 0

    async def sightings(self) -> AsyncIterator[Sighting]:
        queue: asyncio.Queue[Sighting] = asyncio.Queue(maxsize=_QUEUE_MAX)

        def on_advertisement(device: BLEDevice, adv: AdvertisementData) -> None:
            sighting = sighting_from_advertisement(device, adv, time.time_ns() // 1_000_000)
            if sighting is None:
                self.not_mac += 1
            elif queue.full():
                self.overflowed += 1
            else:
                queue.put_nowait(sighting)

        kwargs: dict[str, Any] = {"bluez": {"adapter": self.adapter}} if self.adapter else {}
        loop = asyncio.get_running_loop()
        while True:
            try:
                scanner = BleakScanner(on_advertisement, backend=self.backend, **kwargs)
                async with scanner:
                    deadline = loop.time() + self.scan_s
                    while True:
                        left = deadline - loop.time() if self.idle_s > 0 else None
                        if left is not None and left <= 0:
                            break
                        try:
                            async with asyncio.timeout(left):
                                sighting = await queue.get()
                        except TimeoutError:
                            break
                        yield sighting
            except BleakError as e:
                raise CaptureError(f"{self.name}: {e}") from e
            while not queue.empty():
                yield queue.get_nowait()
            await asyncio.sleep(self.idle_s)
