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
# which also sets "running" and unpacks the booted slot's image. No NVS: the
# firmware keeps its state in files.
#
# On a board this module is C and takes none of MicroPython's heap; here it
# is loaded into it. So it is in two parts: this one, what an update's first
# boot loads beside the app (confirming the running slot), and the slots
# themselves (what Partition(...) makes: info, get_next_update, readblocks,
# writeblocks, ioctl, set_boot), in _esp32flash.py, loaded at their first
# use. A slot is an _esp32flash.Slot, not a Partition instance.
import json
import os
import time

import _hostenv


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

    def __new__(cls, id, block_size=4096):
        # A slot: _esp32flash.Slot, loaded at its first use.
        import _esp32flash

        return _esp32flash.Slot(id, block_size)

    @staticmethod
    def mark_app_valid_cancel_rollback():
        _pause("confirm")
        d = _load()
        d["state"][d["running"]] = "valid"
        _save(d)
        _pause("confirm:done")

    @staticmethod
    def find(type=TYPE_APP, subtype=0xFF, label=None):
        import _esp32flash

        labels = _esp32flash.LABELS if type == Partition.TYPE_APP else ()
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
