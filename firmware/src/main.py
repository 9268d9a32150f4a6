# Runs after boot.py on the board (and first on the host, see firmware/host).
# A pending OTA job runs the updater first, alone in the heap (otajob.py);
# it ends in a reset. Otherwise the node's two message buffers are allocated
# before the firmware is loaded: loading leaves the heap in pieces of under
# 1 KB (see app.Node).
import otajob

otajob.update_mode()
from telemetry import MAX_BYTES  # noqa: E402

tel, out = bytearray(MAX_BYTES), bytearray(MAX_BYTES)
import app  # noqa: E402

app.main(tel, out)
