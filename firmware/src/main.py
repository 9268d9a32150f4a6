# Runs after boot.py on the board (and first on the host, see firmware/host).
# The node's two message buffers are allocated before the firmware is loaded:
# loading leaves the heap in pieces of under 1 KB (see app.Node).
from telemetry import MAX_BYTES

tel, out = bytearray(MAX_BYTES), bytearray(MAX_BYTES)
import app  # noqa: E402

app.main(tel, out)
