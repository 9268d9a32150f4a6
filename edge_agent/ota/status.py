"""ota/status bodies waiting for the broker, in a JSON-lines file that survives restarts.

An update ends across a restart: ``rebooting`` is reported just before the process exits, and
``rolled-back`` may be decided by a start that has no connection yet (or by the launcher). So every
report is appended here first (written and fsynced) and the agent's session publishes the file's
lines in order, dropping them once the broker has acknowledged them. A crash between the PUBACK and
the drop sends a report twice; the cloud's job states tolerate that (a repeated state is no change).

The updater appends from a worker thread while the session drains on the loop: one lock.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path


class StatusLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, body: dict) -> None:
        line = (json.dumps(body, separators=(",", ":")) + "\n").encode()
        with self._lock, self.path.open("ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def pending(self) -> list[dict]:
        with self._lock:
            try:
                lines = self.path.read_bytes().splitlines()
            except FileNotFoundError:
                return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line torn by a power cut: its report is lost, the next one says more
        return out

    def drop(self, n: int) -> None:
        """Forget the first ``n`` reports (published and acknowledged)."""
        with self._lock:
            try:
                lines = self.path.read_bytes().splitlines(keepends=True)
            except FileNotFoundError:
                return
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_bytes(b"".join(lines[n:]))
            os.replace(tmp, self.path)
