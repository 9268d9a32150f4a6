# Runs OTA test cases on whichever interpreter imports it (MicroPython subset).
# A case is a JSON object: {"name", "op", ..., "expect"}; an outcome is the
# op's value or the raised OtaError's class name. tests/ota/test_micropython.py
# writes the cases, runs this file under micropython and compares with the
# same cases run on CPython.
#   micropython -X heapsize=100K ota_cases.py CASES.jsonl
# reads one case a line and prints [name, outcome] a line, so that only one
# case is in memory at a time (the heap is the device's, not the harness's).
import binascii
import gc
import json
import sys

from ota.device import canonical, ed25519
from ota.device.artifact import ArtifactVerifier, journal_entry, resume_offset
from ota.device.metadata import TrustedRoot, verify_release
from ota.device.sha512 import sha512
from ota.exceptions import OtaError

_BUF = 512  # the fixed read buffer of a device re-hashing its stored prefix


def _bytes(h):
    return binascii.unhexlify(h)


def _artifact(case, start=0):
    # The artifact from byte `start`, in chunks, built from [unit hex, times,
    # tail hex] with the case's damage: a device never holds it whole either.
    unit, times, tail = case["artifact"]
    unit = _bytes(unit)
    end = len(unit) * times + len(tail) // 2 - case.get("truncate", 0)
    pos = 0
    for part in [unit] * times + [_bytes(tail), _bytes(case.get("extra", ""))]:
        if part is not unit or pos + len(part) > start:
            part = bytearray(part)
            flip = case.get("flip", -1) - pos
            if 0 <= flip < len(part):
                part[flip] ^= 1
            stop = len(part) if pos >= end else min(len(part), end - pos)
            yield part[max(0, start - pos) : stop]
        pos += len(part)


def _doc(value):
    # A document inline, or {"file": path}: under MicroPython documents are
    # read from files, as a device reads them from flash, to keep lines short.
    if isinstance(value, dict):
        with open(value["file"], "rb") as f:
            return f.read()
    return value.encode()


def _trusted(case, verify):
    root = TrustedRoot.from_bytes(_doc(case["root"]), verify)
    for doc in case.get("chain", ()):
        root = root.update(_doc(doc))
    return root


def _release(case, verify):
    return verify_release(
        _trusted(case, verify),
        _doc(case["doc"]),
        now=case["now"],
        installed_version=case["installed"],
        hardware=case["hardware"],
        model=case["model"],
        allow_reinstall=case.get("allow_reinstall", False),
    )


def _resume(case, verify, tmp):
    # Power cut after `cut` bytes were written and journalled; the device
    # reboots, re-hashes the stored prefix and fetches the rest (a Range).
    release = _release(case, verify)
    cut = case["cut"]
    with open(tmp, "wb") as f:
        written = 0
        for chunk in _artifact(case):
            chunk = chunk[: cut - written]
            f.write(chunk)
            written += len(chunk)
        if case.get("corrupt_prefix"):
            f.seek(cut // 2)
            f.write(b"\xff")
    offset = resume_offset(release, journal_entry(release, cut))
    checker = ArtifactVerifier(release)
    buf = bytearray(_BUF)
    with open(tmp, "rb") as f:
        while checker.received < offset:
            n = f.readinto(buf)
            checker.update(memoryview(buf)[: min(n, offset - checker.received)])
    for chunk in _artifact(case, offset):
        checker.update(chunk)
    checker.finish()
    return offset


def _run(case, verify, tmp):
    op = case["op"]
    if op == "ed25519":
        return verify(_bytes(case["public"]), _bytes(case["sig"]), _bytes(case["msg"]))
    if op == "sha512":
        return binascii.hexlify(sha512(_bytes(case["msg"]))).decode()
    if op == "canonical":
        return binascii.hexlify(canonical.encode(json.loads(case["json"]))).decode()
    if op == "root":
        return _trusted(case, verify).root.version
    if op == "release":
        return _release(case, verify).version
    if op == "artifact":
        checker = ArtifactVerifier(_release(case, verify))
        for chunk in _artifact(case):
            checker.update(chunk)
        checker.finish()
        return checker.received
    if op == "resume":
        return _resume(case, verify, tmp)
    raise ValueError("unknown op " + op)


def outcome(case, verify, tmp):
    try:
        return _run(case, verify, tmp)
    except OtaError as e:
        return type(e).__name__


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        for line in f:
            case = json.loads(line)
            print(json.dumps([case["name"], outcome(case, ed25519.verify, sys.argv[1] + ".part")]))
            case = None
            gc.collect()
