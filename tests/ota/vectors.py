"""The RFC 8032 section 7.1 vectors (vectors/rfc8032.json), shared by the CPython and MicroPython tests."""

from __future__ import annotations

import json
from pathlib import Path

RFC8032 = json.loads((Path(__file__).parent / "vectors" / "rfc8032.json").read_text())["vectors"]
