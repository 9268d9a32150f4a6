"""The Pi agent's OTA end to end: the real agent under its launcher (`mobilytics-agent supervise`) in
a subprocess, its A/B release directories in a tmp dir, the real cloud (bridge + API in uvicorn) on
Mosquitto + PostgreSQL, and deployments of signed releases whose artifacts are the agent's own code.

A good release ends `succeeded` only after its new boot heartbeats and sends telemetry; a release
whose code breaks telemetry fails its self-test, the agent returns to the last good version by
itself, the job ends `rolled-back`, and the device is not offered that release again.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import Session, select

from cloud.registry.models import Device as RegistryDevice
from cloud.rollouts.models import Deployment, Job, JobEvent
from cloud.ui.demo import DEMO_FLEET_KEY_HEX
from edge_agent.ota.slots import Slots
from tests.cloud.conftest import Cloud
from tests.rollouts.conftest import Api, Fleet, deploy

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("edge_agent", "protocol", "ota")
BROKEN_TELEMETRY = (
    'tg.create_task(self._telemetry(link), name="telemetry")',
    'tg.create_task(asyncio.Event().wait(), name="telemetry")',  # the bug: telemetry never goes out
)


def bundle(version: int, *, broken: bool = False) -> bytes:
    """A release artifact: a tar of the agent's code (what the launcher runs from `app/`)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for package in PACKAGES:
            for path in sorted((REPO / package).rglob("*")):
                if "__pycache__" in path.parts or not path.is_file():
                    continue
                data = path.read_bytes()
                if broken and path == REPO / "edge_agent" / "agent.py":
                    old, new = BROKEN_TELEMETRY
                    assert old.encode() in data
                    data = data.replace(old.encode(), new.encode())
                info = tarfile.TarInfo(str(path.relative_to(REPO)))
                info.size, info.mtime = len(data), 0
                tar.addfile(info, io.BytesIO(data))
        marker = f"{version}\n".encode()
        info = tarfile.TarInfo("RELEASE")
        info.size = len(marker)
        tar.addfile(info, io.BytesIO(marker))
    return out.getvalue()


@dataclass
class Pi:
    """One Pi: agent.toml, the A/B release root with v1 installed at the factory, the launcher."""

    device_id: str
    work: Path
    cloud: Cloud
    trusted_root: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def ota_root(self) -> Path:
        return self.work / "ota"

    @property
    def slots(self) -> Slots:
        return Slots(self.ota_root)

    def install_factory(self) -> None:
        self.slots.bootstrap(1, bundle(1))
        (self.work / "agent.toml").write_text(
            "\n".join(
                [
                    f'device_id = "{self.device_id}"',
                    f'fleet_key_hex = "{DEMO_FLEET_KEY_HEX}"',
                    f'data_dir = "{self.work / "data"}"',
                    'hw = "rpi"',
                    "[mqtt]",
                    f'host = "{self.cloud.host}"',
                    f"port = {self.cloud.port}",
                    "backoff_initial_s = 0.2",
                    "backoff_max_s = 1.0",
                    "publish_timeout_s = 3",
                    "[tunables]",
                    "heartbeat_s = 5",
                    "batch_max_age_s = 1",
                    "[sources.simulate]",
                    "seed = 3",
                    "arrivals_per_min = 240",
                    "[ota]",
                    f'root = "{self.ota_root}"',
                    f'trusted_root = "{self.trusted_root}"',
                    'model = "rpi"',
                    "self_test_s = 20",
                ]
            )
            + "\n"
        )

    def start(self) -> None:
        # The launcher runs from the installed tree; each agent it starts runs from current/app.
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        log = (self.work / "launcher.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "supervise", "--config", str(self.work / "agent.toml")],
            cwd=self.work,
            env=env,
            stdout=log,
            stderr=log,
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
async def pi(cloud: Cloud, tmp_path: Path, fleet: Fleet) -> AsyncIterator[Pi]:
    trusted = tmp_path / "device-root.json"
    trusted.write_bytes(fleet.root_document)
    device = Pi(f"rpi-ota-{uuid.uuid4().hex[:8]}", tmp_path / "pi", cloud, trusted)
    device.work.mkdir()
    device.install_factory()
    device.start()
    try:
        yield device
    finally:
        device.stop()


def _job(s: Session, deployment: int) -> Job:
    return s.exec(select(Job).where(Job.deployment_id == deployment)).one()


def _history(s: Session, job: Job) -> list[str]:
    events = s.exec(select(JobEvent).where(JobEvent.job_id == job.id).order_by(JobEvent.id)).all()  # type: ignore[arg-type]
    return [e.state for e in events]


@pytest.mark.parametrize("cloud", ["mosquitto+postgresql"], indirect=True)
async def test_agent_updates_commits_and_returns_by_itself_from_a_release_that_fails_its_self_test(
    cloud: Cloud, live_api: Api, pi: Pi, fleet: Fleet
) -> None:
    device = pi.device_id
    await cloud.wait_for(
        lambda s: (d := s.get(RegistryDevice, device)) and d.firmware_version == "1" and d.hardware == "rpi",
        within=30,
    )

    # A good release: committed only once the new boot heartbeats and its telemetry arrives.
    good = await deploy(live_api, fleet, [device], 2, bundle(2), hardware="rpi", model="rpi")
    job = await cloud.wait_for(
        lambda s: (j := _job(s, good)).state in ("succeeded", "failed", "rolled-back") and j, within=90
    )
    assert job.state == "succeeded", job.reason
    assert (job.reason or "").startswith("committed: version 2"), job.reason
    with Session(cloud.engine) as s:
        history = _history(s, job)
        assert history[:2] == ["queued", "queued"]
        for state in ("offered", "downloading", "verifying", "installing", "rebooting", "confirming"):
            assert state in history, history
        assert history[-1] == "succeeded"
        assert s.get(RegistryDevice, device).firmware_version == "2"  # type: ignore[union-attr]
    await cloud.wait_for(lambda s: s.get(Deployment, good).state == "completed")  # type: ignore[union-attr]
    assert (pi.slots.current, pi.slots.good) == (2, 2)
    assert (pi.slots.app(2) / "RELEASE").read_text() == "2\n"  # type: ignore[operator]

    # A release whose code never sends telemetry: its self-test fails, the agent goes back to v2.
    bad = await deploy(live_api, fleet, [device], 3, bundle(3, broken=True), hardware="rpi", model="rpi")
    job = await cloud.wait_for(
        lambda s: (j := _job(s, bad)).state in ("succeeded", "failed", "rolled-back") and j, within=120
    )
    assert job.state == "rolled-back", (job.state, job.reason)
    with Session(cloud.engine) as s:
        history = _history(s, job)
        assert "confirming" in history, history
        assert "succeeded" not in history
    # Back on v2, connected, heartbeating with telemetry again; v3 never becomes good.
    await cloud.wait_for(
        lambda s: (d := s.get(RegistryDevice, device)) and d.firmware_version == "2", within=30
    )
    assert (pi.slots.current, pi.slots.good) == (2, 2)
    assert pi.slots.pending() is None
    # Not offered again: the retained offer was withdrawn, and the agent keeps the job as done.
    await asyncio.sleep(3)
    with Session(cloud.engine) as s:
        job = _job(s, bad)
        assert job.state == "rolled-back"
        assert job.offer_state in ("withdraw", "withdrawn")
    assert (pi.slots.current, pi.slots.good) == (2, 2)
    events = [
        json.loads(line) for line in (pi.work / "launcher.log").read_text().splitlines() if line[:1] == "{"
    ]
    taken = [(e["job"], e["state"]) for e in events if e["event"] == "ota.job" and e["state"] != "ignored"]
    assert [state for _, state in taken] == ["rebooting", "rebooting"], "a job was acted on twice"
    assert [e["release"] for e in events if e["event"] == "launcher.start"] == [1, 2, 3, 2]
