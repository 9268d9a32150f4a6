"""The Pi agent must not pull in the cloud (FastAPI, SQLModel, the cloud package)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_agent_imports_no_cloud_code() -> None:
    modules = "edge_agent.cli, edge_agent.agent, edge_agent.sources.simulate, edge_agent.sources.pcap, " + (
        "edge_agent.sources.monitor, edge_agent.gps.gpsd, edge_agent.gps.nmea"
    )
    cloud = ("cloud", "fastapi", "sqlmodel", "sqlalchemy", "uvicorn", "psycopg", "amqtt")
    code = f"import sys, {modules}; print(sorted(m for m in sys.modules if m.split('.')[0] in {cloud!r}))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
