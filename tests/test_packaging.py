"""One distribution, four tools, and sides that stay apart: the Pi agent runs without the cloud's
web stack, and the cloud without the agent's radio libraries (pyproject's extras say so; this proves
the code agrees)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.services import python_env

# Imports every module of `package` with `blocked` made unimportable; prints what failed.
PROBE = """
import importlib, pkgutil, sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked for this side")
        return None

BLOCKED = set(sys.argv[2].split(","))
sys.meta_path.insert(0, Block())
package = importlib.import_module(sys.argv[1])
failed = []
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    if info.name.endswith("__main__") or ".migrations" in info.name:
        continue  # entry scripts, and Alembic's env.py, which only runs inside Alembic
    try:
        importlib.import_module(info.name)
    except ImportError as e:
        failed.append(f"{info.name}: {e}")
print("\\n".join(failed))
"""


@pytest.mark.parametrize(
    ("package", "blocked"),
    [
        ("edge_agent", "fastapi,starlette,uvicorn,sqlmodel,sqlalchemy,alembic,amqtt,cloud,jinja2"),
        ("cloud", "bleak,scapy,pynmea2,edge_agent"),
        ("protocol", "fastapi,sqlmodel,aiomqtt,bleak,cloud,edge_agent"),
    ],
)
def test_a_side_imports_without_the_other_sides_libraries(package: str, blocked: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, package, blocked],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=120,
        check=True,
    )
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    ("module", "commands"),
    [
        ("cloud.cli", ["up", "broker-config", "token", "migrate", "user"]),
        ("edge_agent.cli", ["run", "check"]),
        ("provisioning.cli", ["esp32", "pi", "register", "check"]),
        ("ota.cli", ["keygen", "sign", "verify", "publish", "root"]),
    ],
)
def test_every_console_tool_explains_its_commands(module: str, commands: list[str]) -> None:
    app = __import__(module, fromlist=["app"]).app
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    for command in commands:
        assert command in result.output
