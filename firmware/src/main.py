# Runs after boot.py on the board (and first on the host, see firmware/host).
# An OTA job in flight (otajob.json, see otajob.py) is looked at first: the
# update mode runs alone in the heap and ends in a reset. Then the node's two
# message buffers are allocated before the firmware is loaded: loading
# leaves the heap in pieces of under 1 KB (see app.Node).
import flash

job = None
if flash.exists("otajob.json"):
    import otajob

    job = otajob.main()
from telemetry import MAX_BYTES  # noqa: E402

tel, out = bytearray(MAX_BYTES), bytearray(MAX_BYTES)
import app  # noqa: E402

app.main(tel, out, job)
