# Host stand-in for the ESP32 port's `esp32` module. Not shipped.
#
# Skeleton of esp32.Partition for the OTA issue (issue 6). What is here:
# the two app slots (ota_0, ota_1) as files under <flash>/.host/, block
# access, and ESP-IDF's otadata per slot kept in <flash>/.host/otadata.json:
#   {"boot": "ota_0", "running": "ota_0",
#    "state": {"ota_0": "valid", "ota_1": "undefined"}}
# with the states of esp_ota_img_states_t: new, pending_verify, valid,
# invalid, aborted, undefined.
# What the OTA issue adds: the bootloader step at start-up (new ->
# pending_verify and boot it; pending_verify found again, i.e. a boot that
# was never confirmed -> aborted and boot the other slot) in the launcher,
# which then runs the code held by the slot it booted.
import json
import os

import _hostenv

_BLOCK = 4096
_SLOT_BYTES = 0x180000  # 1.5 MiB app slots, as in MicroPython's OTA partition table


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
        if id not in ("ota_0", "ota_1"):
            raise ValueError("partition not found")
        self.label = id
        self.block_size = block_size

    def __eq__(self, other):
        return isinstance(other, Partition) and other.label == self.label

    def info(self):
        offset = 0x10000 if self.label == "ota_0" else 0x190000
        return (Partition.TYPE_APP, 0x10 + int(self.label[-1]), offset, _SLOT_BYTES, self.label, False)

    def get_next_update(self):
        return Partition("ota_1" if self.label == "ota_0" else "ota_0")

    def _path(self):
        return _hostenv.state_path(self.label + ".bin")

    def readblocks(self, block_num, buf, offset=0):
        try:
            with open(self._path(), "rb") as f:
                f.seek(block_num * self.block_size + offset)
                n = f.readinto(buf)
        except OSError:
            n = 0
        for i in range(n or 0, len(buf)):
            buf[i] = 0xFF  # erased flash

    def writeblocks(self, block_num, buf, offset=0):
        p = self._path()
        mode = "r+b"
        try:
            os.stat(p)
        except OSError:
            mode = "wb"
        with open(p, mode) as f:
            f.seek(block_num * self.block_size + offset)
            f.write(buf)

    def ioctl(self, cmd, arg):
        if cmd == 4:  # block count
            return _SLOT_BYTES // self.block_size
        if cmd == 5:  # block size
            return self.block_size
        if cmd == 6:  # erase
            return 0
        return None

    def set_boot(self):
        d = _load()
        d["boot"] = self.label
        d["state"][self.label] = "new"
        _save(d)

    @staticmethod
    def mark_app_valid_cancel_rollback():
        d = _load()
        d["state"][d["running"]] = "valid"
        _save(d)

    @staticmethod
    def find(type=TYPE_APP, subtype=0xFF, label=None):
        labels = ("ota_0", "ota_1") if type == Partition.TYPE_APP else ()
        return [Partition(lb) for lb in labels if label is None or lb == label]


class NVS:
    def __init__(self, namespace):
        raise OSError("NVS: not simulated on the host; the firmware keeps its state in files")
