"""/deployments: send a release to a device group in waves; pause, resume, abort; jobs and history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlmodel import col

from cloud.api.deps import ReadAccess, SessionDep, SettingsDep, WriteAccess
from cloud.core.types import utcnow
from cloud.exceptions import NotFoundError
from cloud.rollouts import service
from cloud.rollouts.models import (
    Deployment,
    DeploymentCreate,
    DeploymentPublic,
    Job,
    JobEvent,
    JobEventPublic,
    JobPublic,
    ResumeIn,
    WaveSummary,
)

router = APIRouter(prefix="/deployments", tags=["deployments"])


def _public(session: SessionDep, d: Deployment) -> DeploymentPublic:
    counts = service.wave_counts(session, d)
    out = DeploymentPublic.model_validate(d, from_attributes=True)
    out.wave_summary = [
        WaveSummary(wave=i, percent=p, size=d.wave_sizes[i], counts=counts.get(i, {}))
        for i, p in enumerate(d.waves)
    ]
    return out


@router.post("", status_code=201)
def create_deployment(
    data: DeploymentCreate, session: SessionDep, settings: SettingsDep, _auth: WriteAccess
) -> DeploymentPublic:
    now = utcnow()
    d = service.create(session, data=data, base_url=settings.download_base_url, now=now)
    service.tick(session, d, now)  # wave 0's offers go into the outbox at once
    session.commit()
    session.refresh(d)
    return _public(session, d)


@router.get("")
def list_deployments(session: SessionDep, _auth: ReadAccess) -> list[DeploymentPublic]:
    rows = session.execute(select(Deployment).order_by(col(Deployment.id).desc()).limit(100)).scalars()
    return [_public(session, d) for d in rows]


@router.get("/{deployment_id}")
def read_deployment(deployment_id: int, session: SessionDep, _auth: ReadAccess) -> DeploymentPublic:
    return _public(session, service.get(session, deployment_id))


def _control(
    deployment_id: int, session: SessionDep, action: str, accept_evidence: bool = False
) -> DeploymentPublic:
    d = service.control(session, deployment_id, action, now=utcnow(), accept_evidence=accept_evidence)
    session.commit()
    session.refresh(d)
    return _public(session, d)


@router.post("/{deployment_id}/pause")
def pause(deployment_id: int, session: SessionDep, _auth: WriteAccess) -> DeploymentPublic:
    return _control(deployment_id, session, "pause")


@router.post("/{deployment_id}/resume")
def resume(
    deployment_id: int, session: SessionDep, _auth: WriteAccess, data: ResumeIn | None = None
) -> DeploymentPublic:
    return _control(deployment_id, session, "resume", accept_evidence=bool(data and data.accept_evidence))


@router.post("/{deployment_id}/abort")
def abort(deployment_id: int, session: SessionDep, _auth: WriteAccess) -> DeploymentPublic:
    return _control(deployment_id, session, "abort")


def _job_public(job: Job, history: list[JobEvent]) -> JobPublic:
    out = JobPublic.model_validate(job, from_attributes=True, update={"job": service.job_name(job.id or 0)})
    out.history = [JobEventPublic.model_validate(e, from_attributes=True) for e in history]
    return out


@router.get("/{deployment_id}/jobs")
def list_jobs(
    deployment_id: int,
    session: SessionDep,
    _auth: ReadAccess,
    state: str | None = None,
    wave: int | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobPublic]:
    service.get(session, deployment_id)
    stmt = select(Job).where(Job.deployment_id == deployment_id)
    if state:
        stmt = stmt.where(Job.state == state)
    if wave is not None:
        stmt = stmt.where(Job.wave == wave)
    jobs = session.execute(stmt.order_by(col(Job.id)).offset(offset).limit(limit)).scalars().all()
    return [_job_public(j, []) for j in jobs]


@router.get("/{deployment_id}/jobs/{device_id}")
def read_job(deployment_id: int, device_id: str, session: SessionDep, _auth: ReadAccess) -> JobPublic:
    job = (
        session.execute(select(Job).where(Job.deployment_id == deployment_id, Job.device_id == device_id))
        .scalars()
        .first()
    )
    if job is None:
        raise NotFoundError("job", f"{deployment_id}/{device_id}")
    history = (
        session.execute(select(JobEvent).where(JobEvent.job_id == job.id).order_by(col(JobEvent.id)))
        .scalars()
        .all()
    )
    return _job_public(job, list(history))
