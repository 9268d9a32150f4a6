"""A rollout service stand-in that implements the UI's `Rollouts` interface in memory.

The rollout service (issue 6, branch `rollout`) is not on this build yet; this lets the browser
tests drive the rollouts page's buttons end to end through the same interface the real service
will implement (cloud/ui/rollouts.py). It refuses what the real one must refuse (pausing an
aborted rollout) with a domain error, so the page's error path is exercised too.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlmodel import Session

from cloud.exceptions import InvalidStateChangeError, NotFoundError
from cloud.ui.rollouts import JobView, RolloutView, WaveView

NEXT = {("running", "pause"): "paused", ("paused", "resume"): "running", ("halted", "resume"): "running"}


class RolloutBook:
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
