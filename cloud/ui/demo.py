"""Demo material for the UI's screenshots and browser tests.

* `DemoAgent`: real edge agents, `python -m edge_agent run` with the simulate source.
* `RolloutBook`: an in-memory implementation of the UI's `Rollouts` interface with sample rollouts,
  used while the rollout service (issue 6, branch `rollout`) is not on this build. It refuses what
  the real service must refuse (pausing an aborted rollout) with a domain error.

Each `DemoAgent` is the production agent (Last Will, heartbeats, store-and-forward outbox) driving the
simulated truck route through Brno; only the radio and GPS readings are invented. `kill()` is
SIGKILL: the kernel closes the socket and the broker publishes the agent's Last Will, exactly as
when a truck loses power.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from cloud.exceptions import InvalidStateChangeError, NotFoundError
from cloud.ui.rollouts import JobView, RolloutView, WaveView

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


NEXT = {("running", "pause"): "paused", ("paused", "resume"): "running", ("halted", "resume"): "running"}


class RolloutBook:
    sample = True  # the rollouts page says it shows sample data

    def __init__(self, rollouts: list[RolloutView], jobs: list[JobView] | None = None) -> None:
        self.rollouts = {r.id: r for r in rollouts}
        self.jobs = jobs or []
        self.log: list[tuple[str, str, str]] = []  # (rollout, action, actor)

    def list(self, session: Session) -> list[RolloutView]:
        return list(self.rollouts.values())

    def jobs_of_device(self, session: Session, device_id: str) -> list[JobView]:
        return [j for j in self.jobs if j.device_id == device_id]

    def failed_devices(self, session: Session) -> dict[str, str]:
        return {j.device_id: j.reason or j.state for j in self.jobs if j.failed}

    def control(
        self, session: Session, rollout_id: str, action: str, *, actor: str, now: datetime
    ) -> RolloutView:
        r = self.rollouts.get(rollout_id)
        if r is None:
            raise NotFoundError("rollout", rollout_id)
        if action == "abort" and r.state in {"running", "paused", "halted"}:
            new = "aborted"
        elif (r.state, action) in NEXT:
            new = NEXT[(r.state, action)]
        else:
            raise InvalidStateChangeError(device_id=rollout_id, from_state=r.state, to_state=action)
        self.rollouts[rollout_id] = r = replace(r, state=new)
        self.log.append((rollout_id, action, actor))
        return r


def sample_book(now: datetime) -> RolloutBook:
    return RolloutBook(
        [
            RolloutView(
                id="fw-0.4.0-rpi",
                release="0.4.0",
                state="running",
                created_at=now,
                hardware="rpi",
                waves=(
                    WaveView(0, 2, succeeded=2, state="passed", threshold=1.0),
                    WaveView(1, 10, succeeded=6, failed=1, in_progress=3, state="running", threshold=0.9),
                    WaveView(2, 50, state="pending", threshold=0.95),
                    WaveView(3, 138, state="pending", threshold=0.95),
                ),
            ),
            RolloutView(
                id="fw-1.3.0-esp32",
                release="1.3.0",
                state="halted",
                created_at=now,
                hardware="esp32",
                reason="wave 2 halted itself: 3 of 20 devices failed (needs 95 % success): self-test timeout",
                waves=(
                    WaveView(0, 2, succeeded=2, state="passed", threshold=1.0),
                    WaveView(1, 20, succeeded=17, failed=3, state="halted", threshold=0.95),
                    WaveView(2, 100, state="pending", threshold=0.95),
                ),
            ),
        ],
        [
            JobView("fw-1.3.0-esp32", "esp32-0042", "1.3.0", "rolled-back", now, "self-test timeout"),
            JobView("fw-0.4.0-rpi", "rpi-ui-0001", "0.4.0", "committed", now, None),
        ],
    )
