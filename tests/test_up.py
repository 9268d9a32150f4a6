"""`mobilytics up`: the newcomer's single process, and the same stack on Mosquitto + PostgreSQL."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from cloud.broker.ports import free_port
from tests.services import MosquittoProcess, python_env

STARTUP_S = 60


@contextmanager
def running_stack(args: list[str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloud", "up", *args],
        cwd=cwd,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for(predicate, what: str, proc: subprocess.Popen[str], timeout: float = STARTUP_S):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"`mobilytics up` exited ({proc.returncode}) waiting for {what}:\n{proc.stdout.read()}"
            )  # type: ignore[union-attr]
        try:
            last = predicate()
            if last:
                return last
        except httpx.HTTPError as e:
            last = e
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def simulated_devices_report(api: str, count: int) -> list[dict[str, object]] | None:
    devices = httpx.get(f"{api}/devices", timeout=5).json()
    if isinstance(devices, dict):
        devices = devices["items"]
    live = [
        d for d in devices if d["heartbeats"] >= 1 and d["telemetry_batches"] >= 1 and d["observations"] > 0
    ]
    return live if len(live) >= count else None


def assert_stack_serves_a_simulated_fleet(args: list[str], cwd: Path, api_port: int) -> None:
    api = f"http://127.0.0.1:{api_port}"
    with running_stack([*args, "--port", str(api_port), "--simulate", "2"], cwd) as proc:
        health = wait_for(lambda: httpx.get(f"{api}/health", timeout=5), "/health", proc)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        live = wait_for(lambda: simulated_devices_report(api, 2), "two simulated devices reporting", proc)
        assert {d["hardware"] for d in live} == {"esp32", "rpi"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_up_runs_the_embedded_stack_with_a_simulated_fleet(tmp_path: Path) -> None:
    db = tmp_path / "var" / "mobilytics.sqlite3"
    args = ["--mqtt-port", str(free_port()), "--db", f"sqlite:///{db}"]
    assert_stack_serves_a_simulated_fleet(args, tmp_path, free_port())
    assert db.exists()


def test_up_on_mosquitto_and_postgresql(
    tmp_path: Path, mosquitto_broker: MosquittoProcess, postgres_url: str
) -> None:
    args = ["--broker", mosquitto_broker.url, "--db", postgres_url]
    assert_stack_serves_a_simulated_fleet(args, tmp_path, free_port())


@pytest.mark.parametrize(("taken_flag", "other_flag"), [("--mqtt-port", "--port"), ("--port", "--mqtt-port")])
def test_a_taken_port_names_the_flag_to_change_it(tmp_path: Path, taken_flag: str, other_flag: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "cloud", "up", taken_flag, str(port), other_flag, str(free_port())],
            cwd=tmp_path,
            env=python_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 2
    assert f"127.0.0.1:{port}" in out.stderr
    assert f"Choose another with {taken_flag} PORT" in out.stderr
