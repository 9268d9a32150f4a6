# Runs after boot.py on the board (and first on the host, see firmware/host).
# The node's two message buffers are allocated before the firmware is loaded,
# and the heap is collected every few KB allocated while it loads: loading
# leaves garbage between what it keeps, and without the collections the free
# heap ends in pieces of under 1 KB, too small to finish loading in 100 KB
# (with them, one piece of ~14 KB is left). Then OTA work (a job in flight,
# or an offer the app saved: otajob.py) is looked at: the update mode runs
# there and ends in a reset, and at a new image's first boot it gives the
# app the self-test's deadline. otajob is dropped before the app loads: the
# heap it took is the app's again. hal is loaded first, not by otajob: with
# hal (and on the host the stand-ins) loaded while otajob ran, the dropped
# otajob stayed in the heap (2.2 KB, measured on the host).
import gc
import sys

gc.threshold(4096)
from telemetry import MAX_BYTES, SEAL_BYTES  # noqa: E402

tel, out = bytearray(SEAL_BYTES), bytearray(MAX_BYTES)
import flash  # noqa: E402
import hal  # noqa: E402, F401

test = None
if flash.exists("otajob.json"):
    test = __import__("otajob").main()
    del sys.modules["otajob"]
import app  # noqa: E402

app.main(tel, out, test)
