"""Child processes the demo fleet owns: started, restarted when they die, stopped on shutdown.

Each `Supervised` runs one command until its task is cancelled; then the child gets SIGTERM (a clean
stop: the agent stores its open batch, the firmware launcher stops MicroPython) and SIGKILL if it has
not exited within `stop_timeout_s`. A child that exits on its own is started again after a jittered,
capped exponential backoff, and the log says so with the exit code and where its output went.
"""

from __future__ import annotations

import asyncio
import random
import signal
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger("cloud.demo")


@dataclass
class Supervised:
    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    log_path: Path
    stop_timeout_s: float = 5.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    starts: int = 0
    pid: int | None = field(default=None, init=False)

    async def run(self) -> None:
        """Keep the child running until cancelled; the child never outlives this task."""
        loop = asyncio.get_running_loop()
        delay = self.backoff_initial_s
        while True:
            started = loop.time()
            with self.log_path.open("ab") as out:
                proc = await asyncio.create_subprocess_exec(
                    *self.argv, cwd=self.cwd, env=self.env, stdout=out, stderr=asyncio.subprocess.STDOUT
                )
            self.starts += 1
            self.pid = proc.pid
            try:
                code = await proc.wait()
            except asyncio.CancelledError:
                await self._stop(proc)
                raise
            finally:
                self.pid = None
            if loop.time() - started > 60:
                delay = self.backoff_initial_s
            wait = delay * (0.5 + random.random())
            log.warning(
                "demo.exited", instance=self.name, code=code, log=str(self.log_path), retry_in=round(wait, 1)
            )
            await asyncio.sleep(wait)
            delay = min(delay * 2, self.backoff_max_s)

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(self.stop_timeout_s):
                await proc.wait()
        except TimeoutError:
            log.warning("demo.killed", instance=self.name, after_s=self.stop_timeout_s)
            proc.kill()
            await proc.wait()
