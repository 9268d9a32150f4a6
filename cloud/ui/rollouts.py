"""The UI's seam to OTA rollouts: what the rollouts page and the device page need, nothing more.

The pages talk to this `Rollouts` interface only; `discover()` returns the implementation backed
by the rollout service (`cloud/rollouts/ui.py`, issue 6), or None on a build without it (the pages
then say rollouts are not available). The browser test and the screenshots drive real deployments.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

ACTIONS = ("pause", "resume", "abort")


@dataclass(frozen=True)
class WaveView:
    index: int
    target: int  # devices in the wave
    succeeded: int = 0
    failed: int = 0
    in_progress: int = 0
    state: str = "pending"  # pending | running | passed | failed | halted
    threshold: float | None = None  # success ratio the wave needs

    @property
    def done(self) -> int:
        return self.succeeded + self.failed

    def percent(self, part: int) -> float:
        return 100.0 * part / self.target if self.target else 0.0


@dataclass(frozen=True)
class RolloutView:
    id: str
    release: str  # the version being rolled out
    state: str  # running | paused | halted | aborted | completed
    created_at: datetime | None = None
    hardware: str | None = None
    reason: str | None = None  # why it paused or halted by itself, with the evidence
    waves: tuple[WaveView, ...] = field(default_factory=tuple)

    @property
    def allowed(self) -> tuple[str, ...]:
        return {
            "running": ("pause", "abort"),
            "paused": ("resume", "abort"),
            "halted": ("resume", "abort"),
        }.get(self.state, ())


@dataclass(frozen=True)
class JobView:
    rollout_id: str
    device_id: str
    release: str
    state: str  # offered | downloading | installing | committed | failed | rolled-back ...
    at: datetime | None = None
    reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.state in {"failed", "rolled-back", "rolled_back", "timeout"}


class Rollouts(Protocol):
    def list(self, session: Session) -> list[RolloutView]: ...

    def jobs_of_device(self, session: Session, device_id: str) -> list[JobView]: ...

    def failed_devices(self, session: Session) -> dict[str, str]:
        """Device id -> reason of its latest failed job, for the overview's attention list."""
        ...

    def control(
        self, session: Session, rollout_id: str, action: str, *, actor: str, now: datetime
    ) -> RolloutView:
        """Pause, resume or abort; raises the rollout service's own domain error when refused."""
        ...


# Where the rollout branch is expected to put its service (issue 6). First one importable wins.
CANDIDATES = ("cloud.rollout.ui", "cloud.rollouts.ui", "cloud.ota.ui")


def discover() -> Rollouts | None:
    """The rollout service's implementation of `Rollouts` (a module-level `ROLLOUTS`), if on this build."""
    for name in CANDIDATES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and name.startswith(e.name):
                continue
            raise
        return getattr(module, "ROLLOUTS", None)
    return None
