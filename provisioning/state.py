"""The per-device state file: what is done, so an interrupted setup resumes where it stopped.

``<workdir>/<device id>/state.json``, written atomically after each step. A step records a fingerprint
of its inputs (image hash, bundle manifest hash, identity files' hashes); a step is skipped when it is
done with the same fingerprint, and redone otherwise. The device's key and certificate sit beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from protocol.topics import is_device_id
from provisioning.exceptions import StateError

VERSION = 1


def fingerprint(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:16]


@dataclass
class DeviceState:
    directory: Path
    device_id: str
    hardware: str
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # registration result, broker settings

    @classmethod
    def open(cls, workdir: Path, device_id: str, hardware: str) -> DeviceState:
        if not is_device_id(device_id):
            raise StateError(
                f"{device_id!r} is not a device id", hint="use [a-z0-9][a-z0-9-]{2,62}, e.g. bb-0042"
            )
        directory = workdir / device_id
        path = directory / "state.json"
        if path.exists():
            doc = json.loads(path.read_text())
            if doc.get("hardware") != hardware:
                raise StateError(
                    f"{device_id} was provisioned as {doc.get('hardware')}, not {hardware}",
                    hint=f"use another device id, or remove {directory}",
                )
            return cls(directory, device_id, hardware, doc.get("steps", {}), doc.get("data", {}))
        directory.mkdir(parents=True, exist_ok=True)
        state = cls(directory, device_id, hardware)
        state.save()
        return state

    @property
    def path(self) -> Path:
        return self.directory / "state.json"

    def done(self, step: str, fp: str | None = None) -> bool:
        rec = self.steps.get(step)
        return rec is not None and (fp is None or rec.get("fingerprint") == fp)

    def mark(self, step: str, fp: str | None = None, **facts: Any) -> None:
        self.steps[step] = {"at": datetime.now(UTC).isoformat(), "fingerprint": fp, **facts}
        self.save()

    def require(self, step: str, *, command: str) -> dict[str, Any]:
        if step not in self.steps:
            raise StateError(
                f"{self.device_id}: step '{step}' has not been done", hint=f"run `{command}` first"
            )
        return self.steps[step]

    def save(self) -> None:
        doc = {
            "version": VERSION,
            "device_id": self.device_id,
            "hardware": self.hardware,
            "steps": self.steps,
        }
        doc["data"] = self.data
        tmp = self.path.with_name("state.json.tmp")
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.path)

    def summary(self) -> dict[str, Any]:
        return {"device_id": self.device_id, "hardware": self.hardware, "steps": sorted(self.steps)}
