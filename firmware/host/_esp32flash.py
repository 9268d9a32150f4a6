# Host stand-in, the slots of esp32.Partition (see esp32.py, which has the
# flash and otadata semantics): what Partition(...) returns, loaded at its
# first use. Not shipped.
import _hostenv
import esp32
from micropython import const

_BLOCK = const(4096)  # the erase sector
_SLOT_BYTES = const(0x180000)  # 1.5 MiB app slots, as in MicroPython's OTA partition table
_EIO = const(5)
LABELS = ("ota_0", "ota_1")


class Slot:
    def __init__(self, id, block_size):
        if id == esp32.Partition.BOOT:
            id = esp32._load()["boot"]
        elif id == esp32.Partition.RUNNING:
            id = esp32._load()["running"]
        if id not in LABELS:
            raise ValueError("partition not found")
        self.label = id
        self.block_size = block_size
        self.path = _hostenv.state_path(id + ".bin")

    def __eq__(self, other):
        return isinstance(other, Slot) and other.label == self.label

    def info(self):
        # (type, subtype, address, size, label, encrypted); subtype 0x10 + n = ota_n
        offset = 0x10000 if self.label == "ota_0" else 0x190000
        return (esp32.Partition.TYPE_APP, 0x10 + int(self.label[-1]), offset, _SLOT_BYTES, self.label, False)

    def get_next_update(self):
        # esp_ota_get_next_update_partition(self): the other slot
        return Slot(LABELS[1 - LABELS.index(self.label)], self.block_size)

    def _open(self):
        try:
            return open(self.path, "r+b")
        except OSError:
            return open(self.path, "w+b")

    def _range(self, start, n):
        if start < 0 or start + n > _SLOT_BYTES:
            raise OSError(_EIO)

    def readblocks(self, block_num, buf, offset=0):
        start = block_num * self.block_size + offset
        self._range(start, len(buf))
        try:
            with open(self.path, "rb") as f:
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
        esp32._pause("writeblocks:%d" % block_num)

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
        esp32._pause("set_boot")
        if not self._is_image():
            raise OSError(_EIO)  # ESP_ERR_OTA_VALIDATE_FAILED
        d = esp32._load()
        d["boot"] = self.label
        if self.label != d["running"]:
            d["state"][self.label] = "new"
        esp32._save(d)
        esp32._pause("set_boot:done")

    def _is_image(self):
        # The host's app image is a ustar archive of a firmware bundle (see
        # firmware/host/launcher.py); its first header says so at byte 257.
        head = bytearray(512)
        self.readblocks(0, head)
        return head[257:262] == b"ustar"
