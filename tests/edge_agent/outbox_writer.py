"""Run as a subprocess by the SIGKILL test: appends batches forever, acks older ones, and prints
``stored N`` after each append has returned (committed) and ``acking N`` before each ack."""

from __future__ import annotations

import hashlib
import json
import sys
import time

from edge_agent.outbox import Outbox


def payload(batch: int) -> bytes:
    body = {"batch": batch, "obs": [[i, "w", f"{batch:08x}{i:08x}", -70, 0, None, None] for i in range(50)]}
    raw = json.dumps(body, separators=(",", ":"))
    return json.dumps({"sha256": hashlib.sha256(raw.encode()).hexdigest(), "body": raw}).encode()


def main(path: str) -> None:
    outbox = Outbox(path, max_bytes=1 << 30)
    print("ready", flush=True)
    while True:
        batch = outbox.append(50, payload, int(time.time() * 1000))
        print(f"stored {batch}", flush=True)
        if batch % 3 == 0:
            old = [b.batch for b in outbox.pending(limit=2)]
            for b in old:  # said before the call: a kill during ack may or may not delete them
                print(f"acking {b}", flush=True)
            outbox.ack(old)


if __name__ == "__main__":
    main(sys.argv[1])
