"""Demo material for the UI's screenshots and browser tests.

* `DemoAgent`: real edge agents, `python -m edge_agent run` with the simulate source.
* `DemoRollouts`: a throw-away fleet root and release key, to publish a signed release and deploy
  it through the REST API, so the rollouts page shows real deployments.

Each `DemoAgent` is the production agent (Last Will, heartbeats, store-and-forward outbox) driving the
simulated truck route through Brno; only the radio and GPS readings are invented. `kill()` is
SIGKILL: the kernel closes the socket and the broker publishes the agent's Last Will, exactly as
when a truck loses power.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ota import signing
from ota.device.metadata import Release
from ota.keys import SigningKey

REPO = Path(__file__).resolve().parents[2]
# A fixed, public demo key: the agent hashes MAC addresses with it (never use it for a real fleet).
DEMO_FLEET_KEY_HEX = "6d6f62696c79746963732d64656d6f2d666c6565742d6b6579"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


@dataclass
class DemoAgent:
    device_id: str
    workdir: Path
    host: str
    port: int
    seed: int = 1
    speed: float = 1.0
    heartbeat_s: int = 5
    arrivals_per_min: float = 30.0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        return self.workdir / f"{self.device_id}.toml"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.device_id}.log"

    def write_config(self) -> Path:
        data_dir = self.workdir / self.device_id
        data_dir.mkdir(parents=True, exist_ok=True)
        tables: dict[str, dict[str, object]] = {
            "mqtt": {
                "host": self.host,
                "port": self.port,
                "backoff_initial_s": 0.2,
                "backoff_max_s": 1.0,
                "publish_timeout_s": 3,
            },
            "tunables": {"heartbeat_s": self.heartbeat_s, "batch_max_age_s": 2},
            "sources.simulate": {
                "seed": self.seed,
                "speed": self.speed,
                "arrivals_per_min": self.arrivals_per_min,
            },
        }
        lines = [
            f"device_id = {_toml(self.device_id)}",
            f"fleet_key_hex = {_toml(DEMO_FLEET_KEY_HEX)}",
            f"data_dir = {_toml(str(data_dir))}",
            'hw = "rpi"',
        ]
        for name, values in tables.items():
            lines.append(f"[{name}]")
            lines += [f"{k} = {_toml(v)}" for k, v in values.items()]
        self.config_path.write_text("\n".join(lines) + "\n")
        return self.config_path

    def start(self) -> None:
        self.write_config()
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO)}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "run", "--config", str(self.config_path)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=log,
        )

    def kill(self) -> None:
        """SIGKILL: no goodbye, so the broker publishes the Last Will."""
        self.stop(signal.SIGKILL)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class DemoRollouts:
    """A throw-away signing setup for the screenshots: one root key, one release key (threshold 1),
    generated in this process and never stored. `root_document` goes to `Settings.ota_root`."""

    root_document: bytes
    release_key: SigningKey

    @classmethod
    def generate(cls) -> DemoRollouts:
        root_key, release_key = SigningKey.generate(), SigningKey.generate()
        root = signing.make_root(
            version=1,
            expires=int(time.time()) + 86400,
            roles={"root": ([root_key.public], 1), "release": ([release_key.public], 1)},
        )
        return cls(signing.sign(signing.document(root), [root_key]), release_key)

    async def deploy(
        self, base_url: str, token: str, device_ids: list[str], *, name: str, version: int, waves: list[int]
    ) -> int:
        """Publish a signed `rpi` release and deploy it to `device_ids` through the REST API."""
        artifact = os.urandom(4096)
        release = Release(
            version=version,
            expires=int(time.time()) + 86400,
            hardware="rpi",
            model="rpi",
            length=len(artifact),
            sha256=hashlib.sha256(artifact).hexdigest(),
        )
        document = signing.sign(signing.document(release), [self.release_key])
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as api:
            r = await api.post("/releases", content=document)
            r.raise_for_status()
            rid = r.json()["id"]
            (await api.put(f"/releases/{rid}/artifact", content=artifact)).raise_for_status()
            r = await api.post(
                "/deployments",
                json={
                    "name": name,
                    "release_id": rid,
                    "device_ids": device_ids,
                    "waves": waves,
                    "soak_s": 0,
                    "job_deadline_s": 3600,
                },
            )
            r.raise_for_status()
            return int(r.json()["id"])
