# The esp32.Partition stand-in behaves as ESP-IDF's flash and otadata do
# (runs under MicroPython, flash = cwd, otadata in ./.host).
import esp32

_B = 4096


def _slot():
    return esp32.Partition(esp32.Partition.RUNNING).get_next_update()


def test_slots_and_info():
    run = esp32.Partition(esp32.Partition.RUNNING)
    nxt = run.get_next_update()
    assert run.info()[4] == "ota_0" and nxt.info()[4] == "ota_1"
    assert nxt.get_next_update() == run
    assert nxt.info()[3] == nxt.ioctl(4, 0) * nxt.ioctl(5, 0) == 0x180000
    assert [p.info()[4] for p in esp32.Partition.find(esp32.Partition.TYPE_APP)] == ["ota_0", "ota_1"]


def test_erased_flash_reads_ff_and_writes_erase_whole_blocks():
    p = _slot()
    buf = bytearray(16)
    p.readblocks(7, buf)
    assert buf == b"\xff" * 16
    p.writeblocks(1, b"\x00" * _B)
    p.writeblocks(1, b"\x5a" * _B)  # erase, then program: the new bytes
    p.readblocks(1, buf, 100)
    assert buf == b"\x5a" * 16
    try:
        p.writeblocks(2, b"\x00" * 100)  # not a whole sector: ESP-IDF refuses the erase
        raise AssertionError("a partial-sector erase was accepted")
    except OSError:
        pass


def test_programming_without_erase_only_clears_bits():
    p = _slot()
    p.writeblocks(3, b"\xf0" * _B)
    p.writeblocks(3, b"\x3c" * 8, 0)  # the offset form: no erase
    buf = bytearray(8)
    p.readblocks(3, buf)
    assert buf == b"\x30" * 8  # 0xf0 & 0x3c
    p.ioctl(6, 3)  # erase the block
    p.readblocks(3, buf)
    assert buf == b"\xff" * 8


def test_set_boot_refuses_what_is_not_an_image_and_marks_an_image_new():
    p = _slot()
    p.ioctl(6, 0)
    try:
        p.set_boot()  # ESP_ERR_OTA_VALIDATE_FAILED
        raise AssertionError("set_boot accepted an erased slot")
    except OSError:
        pass
    head = bytearray(b"\xff" * _B)
    head[257:262] = b"ustar"
    p.writeblocks(0, head)
    p.set_boot()
    d = esp32._load()
    assert d["boot"] == "ota_1" and d["running"] == "ota_0"
    assert d["state"]["ota_1"] == "new"
    assert esp32.Partition(esp32.Partition.BOOT) == p


def test_mark_app_valid_cancel_rollback_validates_the_running_slot():
    d = esp32._load()
    d["state"]["ota_0"] = "pending_verify"
    esp32._save(d)
    esp32.Partition.mark_app_valid_cancel_rollback()
    assert esp32._load()["state"]["ota_0"] == "valid"
