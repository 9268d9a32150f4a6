"""The Raspberry Pi install: the edge agent (pip), its identity and config, and its systemd unit.

A ``Target`` is where the files go and the commands run: ``LocalTarget`` (this machine, under a root
directory: ``/`` on the Pi itself, a temporary directory in tests) or ``SshTarget`` (a Pi on the
network, via the system's ``ssh`` with key authentication; files are streamed to ``sudo install``).
Every step rewrites its files only when their content differs, so a re-run is safe.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol

from provisioning.exceptions import ToolError

CONFIG_DIR = PurePosixPath("/etc/mobilytics")
UNIT_PATH = PurePosixPath("/etc/systemd/system/mobilytics-agent.service")
UNIT_NAME = "mobilytics-agent.service"
DEFAULT_SOURCES = ("monitor:wlan1mon", "ble")


class Target(Protocol):
    def read(self, path: PurePosixPath) -> bytes | None: ...
    def write(self, path: PurePosixPath, data: bytes, mode: int) -> None: ...
    def run(self, argv: list[str]) -> str: ...


def _check(tool: str, argv: list[str], r: subprocess.CompletedProcess[bytes]) -> str:
    out = (r.stdout or b"").decode(errors="replace") + (r.stderr or b"").decode(errors="replace")
    if r.returncode != 0:
        raise ToolError(tool, argv, r.returncode, out)
    return out


@dataclass
class LocalTarget:
    root: Path = Path("/")
    # Commands that touch the machine's services (systemctl) run only when root is "/".
    ran: list[list[str]] = field(default_factory=list)

    def _path(self, path: PurePosixPath) -> Path:
        return self.root / path.relative_to("/")

    def read(self, path: PurePosixPath) -> bytes | None:
        p = self._path(path)
        return p.read_bytes() if p.exists() else None

    def write(self, path: PurePosixPath, data: bytes, mode: int) -> None:
        p = self._path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, p)

    def run(self, argv: list[str]) -> str:
        self.ran.append(argv)
        if argv[0] == "systemctl" and self.root != Path("/"):
            return "(skipped: not the real root)"
        return _check(argv[0], argv, subprocess.run(argv, capture_output=True))


@dataclass
class SshTarget:
    host: str
    ssh: tuple[str, ...] = ("ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10")

    def _remote(self, command: str) -> list[str]:
        return [*self.ssh, self.host, command]

    def read(self, path: PurePosixPath) -> bytes | None:
        argv = self._remote(f"sudo cat {shlex.quote(str(path))} 2>/dev/null || true")
        r = subprocess.run(argv, capture_output=True)
        _check("ssh", argv, r)
        return r.stdout or None

    def write(self, path: PurePosixPath, data: bytes, mode: int) -> None:
        cmd = f"sudo install -D -m {mode:o} /dev/stdin {shlex.quote(str(path))}"
        argv = self._remote(cmd)
        _check("ssh", argv, subprocess.run(argv, input=data, capture_output=True))

    def run(self, argv: list[str]) -> str:
        full = self._remote("sudo " + shlex.join(argv))
        return _check("ssh", full, subprocess.run(full, capture_output=True))


def unit_text(*, python: str, config: PurePosixPath) -> str:
    return f"""[Unit]
Description=Mobilytics edge agent
Wants=network-online.target
After=network-online.target

[Service]
ExecStart={python} -m edge_agent run --config {config}
Restart=always
RestartSec=5
# Store-and-forward lives in the agent's outbox; a stop is a clean flush, a kill loses nothing acked.
KillSignal=SIGTERM
TimeoutStopSec=20

[Install]
WantedBy=multi-user.target
"""


def toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def agent_toml(top: dict[str, object], tables: dict[str, dict[str, object]]) -> str:
    """TOML in the agent's own format (edge_agent/config.py): top-level keys, then ``[table]`` or
    ``[table.sub]`` sections; None values are left out."""
    out = ["# Written by mobilytics-provision; re-run `mobilytics-provision pi install` to change."]
    out += [f"{k} = {toml_value(v)}" for k, v in top.items() if v is not None]
    for name, values in tables.items():
        out.append(f"\n[{name}]")
        out += [f"{k} = {toml_value(v)}" for k, v in values.items() if v is not None]
    return "\n".join(out) + "\n"


def parse_source(text: str) -> tuple[str, dict[str, object]]:
    """``monitor:wlan1mon``, ``ble``, ``ble:hci0``, ``simulate`` -> the agent's ``[sources.<kind>]`` table."""
    kind, _, arg = text.partition(":")
    if kind == "monitor" and arg:
        return kind, {"interface": arg}
    if kind == "ble":
        return kind, {"adapter": arg or None}
    if kind == "simulate" and not arg:
        return kind, {}
    raise ValueError(f"--source {text!r}: expected monitor:IFACE, ble[:ADAPTER] or simulate")


def put(target: Target, path: PurePosixPath, data: bytes, mode: int = 0o644) -> bool:
    """Write unless identical; whether it changed."""
    if target.read(path) == data:
        return False
    target.write(path, data, mode)
    return True


@dataclass(frozen=True)
class AgentInstall:
    spec: str = "mobilytics[agent]"
    pip: tuple[str, ...] = (sys.executable, "-m", "pip", "install", "--upgrade")
    python: str = "/usr/bin/python3"

    def pip_argv(self) -> list[str]:
        return [*self.pip, self.spec]
