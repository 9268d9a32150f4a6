"""The ops UI's view of rollouts (`cloud.ui.rollouts.Rollouts`), read from the rollout tables.

The pages need waves with progress, a device's job history and the devices whose latest job
failed; control goes through `service.control`, the same path as the REST API.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from cloud.releases.models import Release
from cloud.rollouts import service
from cloud.rollouts.models import TERMINAL, Deployment, DeploymentState, Job, JobState
from cloud.ui.rollouts import JobView, RolloutView, WaveView

_FAILED = (JobState.FAILED.value, JobState.ROLLED_BACK.value)


def _wave_state(d: Deployment, index: int) -> str:
    if d.state == DeploymentState.COMPLETED or index < d.current_wave:
        return "passed"
    if index > d.current_wave:
        return "pending"
    return {DeploymentState.RUNNING: "running", DeploymentState.HALTED: "halted"}.get(d.state, d.state)


def _view(session: Session, d: Deployment) -> RolloutView:
    counts = service.wave_counts(session, d)
    release = session.get(Release, d.release_id)
    waves = []
    for i, size in enumerate(d.wave_sizes):
        c = counts.get(i, {})
        failed = sum(c.get(s, 0) for s in _FAILED)
        succeeded = c.get(JobState.SUCCEEDED.value, 0)
        in_progress = sum(n for s, n in c.items() if s not in TERMINAL and s != JobState.QUEUED)
        waves.append(
            WaveView(
                index=i,
                target=size,
                succeeded=succeeded,
                failed=failed,
                in_progress=in_progress,
                state=_wave_state(d, i),
                threshold=d.success_threshold,
            )
        )
    return RolloutView(
        id=str(d.id),
        release=str(release.version) if release else "?",
        state=d.state,
        created_at=d.created_at,
        hardware=d.selector.get("hardware") or (release.hardware if release else None),
        reason=d.state_reason,
        waves=tuple(waves),
    )


class RolloutTables:
    """`Rollouts` over the deployment, job and release tables."""

    def list(self, session: Session) -> list[RolloutView]:
        rows = session.execute(select(Deployment).order_by(col(Deployment.id).desc()).limit(100)).scalars()
        return [_view(session, d) for d in rows]

    def jobs_of_device(self, session: Session, device_id: str) -> list[JobView]:
        rows = session.execute(
            select(Job, Release.version)
            .join(Deployment, col(Deployment.id) == Job.deployment_id)
            .join(Release, col(Release.id) == Deployment.release_id)
            .where(Job.device_id == device_id)
            .order_by(col(Job.id).desc())
        ).all()
        return [
            JobView(
                rollout_id=str(job.deployment_id),
                device_id=job.device_id,
                release=str(version),
                state=job.state,
                at=job.updated_at,
                reason=job.reason,
            )
            for job, version in rows
        ]

    def failed_devices(self, session: Session) -> dict[str, str]:
        latest = select(func.max(Job.id)).group_by(Job.device_id)
        rows = session.execute(
            select(Job.device_id, Job.reason, Job.state).where(
                col(Job.id).in_(latest), col(Job.state).in_(_FAILED)
            )
        ).all()
        return {device: reason or state for device, reason, state in rows}

    def control(
        self, session: Session, rollout_id: str, action: str, *, actor: str, now: datetime
    ) -> RolloutView:
        d = service.control(session, int(rollout_id), action, now=now, actor=actor)
        return _view(session, d)


ROLLOUTS = RolloutTables()
