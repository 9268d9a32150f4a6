"""Fixtures for the edge agent tests: the real captures and the Wireshark tools."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.services import unavailable

BRNO_DAYS = ["2022-11-24", "2023-02-23"]


@pytest.fixture
def brno(shared_dir: Path) -> Path:
    """The Brno probe-request captures (pcap + the authors' CSV) in shared/datasets."""
    path = shared_dir / "datasets" / "probe-requests-brno"
    if not path.is_dir():
        unavailable(f"needs the probe-requests-brno dataset at {path}")
    return path


def wireshark_tool(name: str) -> str:
    """Path of tshark/editcap (Debian package tshark); skip outside CI, fail in CI when missing."""
    exe = shutil.which(name)
    if exe is None:
        unavailable(f"needs {name}: apt-get install tshark")
    assert exe is not None
    return exe
