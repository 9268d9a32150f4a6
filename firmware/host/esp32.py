# Host stand-in for the ESP32 port's `esp32` module. Not shipped.
#
# esp32.Partition over the two app slots (ota_0, ota_1) of MicroPython's OTA
# partition table, each a file <flash>/.host/<label>.bin, behaving as NOR
# flash does under ESP-IDF:
#   - erased bytes read 0xFF (a slot never written reads all 0xFF);
#   - writeblocks(n, buf) erases the blocks it covers, then writes (buf a
#     whole number of blocks, as esp_partition_erase_range requires);
#   - writeblocks(n, buf, offset) and a write without erase can only clear
#     bits (new = old & data), as a program operation does;
#   - ioctl(6, n) erases block n; ioctl(4)/ioctl(5) are block count / size.
# otadata (<flash>/.host/otadata.json) keeps ESP-IDF's esp_ota_img_states_t
# per slot: new, pending_verify, valid, invalid, aborted, undefined:
#   {"boot": "ota_0", "running": "ota_0",
#    "state": {"ota_0": "valid", "ota_1": "undefined"}}
# set_boot() refuses an image that is not one (ESP-IDF verifies it:
# ESP_ERR_OTA_VALIDATE_FAILED, an OSError here) and marks the slot `new`;
# mark_app_valid_cancel_rollback() makes the running slot `valid`. The
# bootloader's step (new -> pending_verify and boot it; pending_verify found
# again -> aborted, boot the other valid slot) is firmware/host/launcher.py's,
# which also sets "running" and unpacks the booted slot's image.
import json
import os
import time

import _hostenv

_BLOCK = 4096
_SLOT_BYTES = 0x180000  # 1.5 MiB app slots, as in MicroPython's OTA partition table
_LABELS = ("ota_0", "ota_1")
_EIO = 5


def _load():
    try:
        with open(_hostenv.state_path("otadata.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"boot": "ota_0", "running": "ota_0", "state": {"ota_0": "valid", "ota_1": "undefined"}}


def _save(d):
    p = _hostenv.state_path("otadata.json")
    with open(p + ".tmp", "w") as f:
        json.dump(d, f)
    os.rename(p + ".tmp", p)


class Partition:
    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id, block_size=_BLOCK):
        if id == Partition.BOOT:
            id = _load()["boot"]
        elif id == Partition.RUNNING:
            id = _load()["running"]
        if id not in _LABELS:
            raise ValueError("partition not found")
        self.label = id
        self.block_size = block_size

    def __eq__(self, other):
        return isinstance(other, Partition) and other.label == self.label

    def info(self):
        # (type, subtype, address, size, label, encrypted); subtype 0x10 + n = ota_n
        offset = 0x10000 if self.label == "ota_0" else 0x190000
        return (Partition.TYPE_APP, 0x10 + int(self.label[-1]), offset, _SLOT_BYTES, self.label, False)

    def get_next_update(self):
        # esp_ota_get_next_update_partition(self): the other slot
        return Partition(_LABELS[1 - _LABELS.index(self.label)])

    def _path(self):
        return _hostenv.state_path(self.label + ".bin")

    def _open(self):
        try:
            return open(self._path(), "r+b")
        except OSError:
            return open(self._path(), "w+b")

    def _range(self, start, n):
        if start < 0 or start + n > _SLOT_BYTES:
            raise OSError(_EIO)

    def readblocks(self, block_num, buf, offset=0):
        start = block_num * self.block_size + offset
        self._range(start, len(buf))
        try:
            with open(self._path(), "rb") as f:
                f.seek(start)
                n = f.readinto(buf) or 0
        except OSError:
            n = 0
        for i in range(n, len(buf)):
            buf[i] = 0xFF  # erased, or past what was ever programmed

    def _program(self, f, start, data):
        # NOR flash: programming clears bits, never sets them.
        old = bytearray(len(data))
        f.seek(start)
        n = f.readinto(old) or 0
        for i in range(n, len(old)):
            old[i] = 0xFF
        for i in range(len(old)):
            old[i] &= data[i]
        f.seek(start)
        f.write(old)

    def writeblocks(self, block_num, buf, offset=None):
        start = block_num * self.block_size + (offset or 0)
        self._range(start, len(buf))
        with self._open() as f:
            if offset is None:
                if len(buf) % _BLOCK:
                    raise OSError(_EIO)  # erase works on whole 4 KiB sectors
                f.seek(start)
                f.write(buf)  # erased, then programmed: the bytes as given
            else:
                self._program(f, start, buf)
        _pause("writeblocks:%d" % block_num)

    def ioctl(self, cmd, arg):
        if cmd == 4:  # block count
            return _SLOT_BYTES // self.block_size
        if cmd == 5:  # block size
            return self.block_size
        if cmd == 6:  # erase one block
            self._range(arg * self.block_size, self.block_size)
            with self._open() as f:
                f.seek(arg * self.block_size)
                f.write(b"\xff" * self.block_size)
            return 0
        return 0 if cmd in (1, 2, 3) else None  # init, deinit, sync

    def set_boot(self):
        # esp_ota_set_boot_partition: verify the image, then select it as new.
        _pause("set_boot")
        if not _is_image(self):
            raise OSError(_EIO)  # ESP_ERR_OTA_VALIDATE_FAILED
        d = _load()
        d["boot"] = self.label
        if self.label != d["running"]:
            d["state"][self.label] = "new"
        _save(d)
        _pause("set_boot:done")

    @staticmethod
    def mark_app_valid_cancel_rollback():
        _pause("confirm")
        d = _load()
        d["state"][d["running"]] = "valid"
        _save(d)
        _pause("confirm:done")

    @staticmethod
    def find(type=TYPE_APP, subtype=0xFF, label=None):
        labels = _LABELS if type == Partition.TYPE_APP else ()
        return [Partition(lb) for lb in labels if label is None or lb == label]


def _pause(point):
    # A named instant of a flash operation: "writeblocks:<n>", "set_boot",
    # "set_boot:done", "confirm", "confirm:done". When the test asked for it
    # (control file `pause`), stop the world here as a power cut would.
    if _hostenv.ctl_read("pause") == point:
        with open(_hostenv.env("MOB_HOST_CTL") + "/paused", "w") as f:
            f.write(point)
        while True:
            time.sleep_ms(1000)


def _is_image(part):
    # The host's app image is a ustar archive of a firmware bundle (see
    # firmware/host/launcher.py); its first header says so at byte 257.
    head = bytearray(512)
    part.readblocks(0, head)
    return head[257:262] == b"ustar"


class NVS:
    def __init__(self, namespace):
        raise OSError("NVS: not simulated on the host; the firmware keeps its state in files")
