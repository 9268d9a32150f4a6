"""Run as a subprocess by the SIGKILL test: appends batches forever, acks older ones. Prints
``stored <boot> <batch>`` after each append has returned (committed) and ``acking <boot> <batch>``
before each ack (a kill during the ack may or may not delete them)."""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
import time

from edge_agent.outbox import Outbox


def payload(boot: str, batch: int) -> bytes:
    body = {
        "boot": boot,
        "batch": batch,
        "obs": [[i, "w", f"{batch:08x}{i:08x}", -70, 0, None, None] for i in range(50)],
    }
    raw = json.dumps(body, separators=(",", ":"))
    return json.dumps({"sha256": hashlib.sha256(raw.encode()).hexdigest(), "body": raw}).encode()


def identity(stored: bytes) -> tuple[str, int]:
    body = json.loads(json.loads(stored)["body"])
    return body["boot"], body["batch"]


def main(path: str) -> None:
    outbox = Outbox(path, max_bytes=1 << 30)
    boot = secrets.token_hex(4)
    print("ready", flush=True)
    while True:
        batch = outbox.append(50, lambda n: payload(boot, n), int(time.time() * 1000))
        print(f"stored {boot} {batch}", flush=True)
        if batch % 3 == 0:
            for old in outbox.pending(limit=2):
                print("acking {} {}".format(*identity(old.payload)), flush=True)
                outbox.ack([old.id])


if __name__ == "__main__":
    main(sys.argv[1])
