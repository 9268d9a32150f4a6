"""The agent's launcher: what a bootloader is to the ESP32, for the Pi's A/B release directories.

``mobilytics-agent supervise`` runs ``python -m edge_agent run`` from the release ``<ota.root>/current``
points at (its ``app/`` directory first on PYTHONPATH; the installed code when the release is not a
code bundle) and starts it again whenever it exits, as systemd's ``Restart=always`` would:

* exit 0 (SIGTERM/SIGINT handled by the agent): the launcher stops too;
* exit RESTART (75): an update switched ``current`` or returned to ``good``; start again now;
* anything else (a crash): start again after ``restart_delay_s``.

The watchdog: while a switch is unconfirmed (``pending.json``), an agent still running past the
self-test deadline (plus ``grace_s``) is terminated, and a start after the deadline runs the boot
check here first, so a release that hangs or dies before its own boot check still returns to
``good``. The launcher never changes the slots otherwise; it is not updated over the air.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import structlog

from edge_agent.agent import RESTART
from edge_agent.config import AgentConfig
from edge_agent.ota.slots import Slots
from edge_agent.ota.status import StatusLog
from edge_agent.ota.updater import Updater

log = structlog.get_logger(__name__)


class Launcher:
    def __init__(
        self,
        config: AgentConfig,
        config_path: Path,
        *,
        log_level: str = "info",
        restart_delay_s: float = 2.0,
        grace_s: float = 5.0,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.log_level = log_level
        self.restart_delay_s = restart_delay_s
        self.grace_s = grace_s
        self.slots = Slots(Path(config.ota.root)) if config.ota else None
        self.starts = 0
        self._stopping = False
        self._child: subprocess.Popen[bytes] | None = None

    def _command(self) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ)
        if self.slots is not None:
            app = self.slots.app(self.slots.current)
            if app is not None:  # resolved now: a later switch does not move the running code
                path = env.get("PYTHONPATH")
                env["PYTHONPATH"] = f"{app.resolve()}{os.pathsep}{path}" if path else str(app.resolve())
        argv = [sys.executable, "-m", "edge_agent", "run", "--config", str(self.config_path)]
        return [*argv, "--log-level", self.log_level], env

    def _deadline(self) -> float | None:
        if self.slots is None:
            return None
        pending = self.slots.pending()
        return float(pending["deadline"]) if pending else None

    def _late_boot_check(self) -> None:
        """A switch past its deadline is decided here, before any code of that release runs."""
        deadline = self._deadline()
        if deadline is None or time.time() <= deadline or self.config.ota is None:
            return
        ota = self.config.ota
        updater = Updater(
            Path(ota.root),
            trusted_root=Path(ota.trusted_root).read_bytes(),
            hardware=self.config.hw,
            model=ota.model,
            report=lambda job, state, **extra: StatusLog(Path(ota.root) / "status.jsonl").append(
                {"job": job, "state": state, **extra}
            ),
        )
        outcome = updater.boot()
        log.warning(
            "launcher.boot_check", state=outcome.state, version=outcome.version, reason=outcome.reason
        )

    def _stop(self, signum: int, _frame: object) -> None:
        self._stopping = True
        if self._child is not None and self._child.poll() is None:
            self._child.send_signal(signum)

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        while not self._stopping:
            self._late_boot_check()
            argv, env = self._command()
            self.starts += 1
            log.info("launcher.start", start=self.starts, release=self.slots.current if self.slots else None)
            self._child = subprocess.Popen(argv, env=env)
            code = self._wait(self._child)
            log.info("launcher.exit", code=code)
            if self._stopping or code == 0:
                return code
            if code != RESTART:
                time.sleep(self.restart_delay_s)
        return 0

    def _wait(self, child: subprocess.Popen[bytes]) -> int:
        while True:
            try:
                return child.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                pass
            deadline = self._deadline()
            if deadline is not None and time.time() > deadline + self.grace_s:
                log.warning("launcher.watchdog", reason="unconfirmed past the self-test deadline")
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
                return RESTART  # its clean exit on SIGTERM is not a request to stop
