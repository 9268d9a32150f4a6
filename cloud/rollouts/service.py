"""Deployments at the edges of the rule: create (jobs per wave), tick (load facts, ``decide``, apply),
ops controls, the job state machine fed by MQTT, and the ota/offer outbox.

Every function takes a session and ``now``; nothing is kept in memory between calls, and the
sweeper locks a deployment with ``FOR UPDATE SKIP LOCKED`` so two replicas never tick it at once.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, insert, literal, select, update
from sqlmodel import Session, col

from cloud.exceptions import ConflictError, NotFoundError
from cloud.ingest.store import Batch
from cloud.registry.models import Device, DeviceState
from cloud.releases.models import Release, ReleaseState
from cloud.releases.service import urls
from cloud.rollouts import decide as rule
from cloud.rollouts.health import measure
from cloud.rollouts.models import (
    TERMINAL,
    Deployment,
    DeploymentCreate,
    DeploymentState,
    Job,
    JobEvent,
    JobState,
    OfferState,
)
from protocol import topics
from protocol.codec import Message, encode, make

CLOUD_BOOT = "00000000"
_JOB_ID = re.compile(r"j(\d{1,18})")
_ACTIVE = [s.value for s in JobState if s not in TERMINAL]
_TERMINAL = [s.value for s in TERMINAL]
_UNSTARTED = [JobState.QUEUED.value, JobState.OFFERED.value]


def job_name(job_id: int) -> str:
    """The protocol's job id (ota_offer.job / ota_status.job) of a job row."""
    return f"j{job_id}"


# Creating ----------------------------------------------------------------------------------------


def wave_sizes(percents: Sequence[int], n: int) -> list[int]:
    """Devices per wave for cumulative ``percents`` of ``n`` (at least one in the first wave)."""
    if not percents or percents[-1] != 100 or any(b <= a for a, b in itertools.pairwise(percents)):
        raise ValueError("waves are increasing cumulative percentages ending at 100, e.g. [1, 10, 50, 100]")
    if percents[0] <= 0:
        raise ValueError("the first wave must be above 0%")
    ends = [min(n, max(1, math.ceil(p * n / 100))) if n else 0 for p in percents]
    return [e - s for s, e in zip([0, *ends[:-1]], ends, strict=True)]


def _order_key(deployment_id: int, device_id: str) -> str:
    # A stable shuffle: waves are a random sample of the group, the same on every replica.
    return hashlib.sha256(f"{deployment_id}:{device_id}".encode()).hexdigest()


def create(session: Session, *, data: DeploymentCreate, base_url: str, now: datetime) -> Deployment:
    release = session.get(Release, data.release_id)
    if release is None:
        raise NotFoundError("release", str(data.release_id))
    if release.state != ReleaseState.READY:
        raise ConflictError(what="release", key=str(release.id), reason="its artifact is not uploaded yet")
    if data.hardware is not None and data.hardware != release.hardware:
        raise ConflictError(
            what="deployment",
            key=data.name,
            reason=f"group hardware {data.hardware!r} differs from the release's {release.hardware!r}",
        )
    try:
        wave_sizes(data.waves, 0)
    except ValueError as e:
        raise ConflictError(what="deployment", key=data.name, reason=str(e)) from e
    # The release's signed target decides the hardware: a device of another kind is never offered it.
    stmt = select(Device.id, Device.labels).where(
        Device.hardware == release.hardware, Device.state != DeviceState.RETIRED
    )
    if data.device_ids is not None:
        stmt = stmt.where(col(Device.id).in_(data.device_ids))
    members = [i for i, labels in session.execute(stmt).all() if _matches(labels or {}, data.labels)]
    d = Deployment(
        name=data.name,
        release_id=release.id,  # type: ignore[arg-type]
        selector={"hardware": release.hardware, "labels": data.labels, "ids": data.device_ids},
        waves=list(data.waves),
        success_threshold=data.success_threshold,
        max_failure_rate=data.max_failure_rate,
        job_deadline_s=data.job_deadline_s,
        soak_s=data.soak_s,
        health_margins=dict(data.health_margins),
        base_url=base_url,
        state=DeploymentState.RUNNING,
        current_wave=-1,
        created_at=now,
        updated_at=now,
    )
    session.add(d)
    session.flush()
    assert d.id is not None
    members.sort(key=lambda i: _order_key(d.id, i))  # type: ignore[arg-type]
    sizes = wave_sizes(data.waves, len(members))
    d.wave_sizes = sizes
    rows, start = [], 0
    for wave, size in enumerate(sizes):
        for device_id in members[start : start + size]:
            rows.append(
                {
                    "deployment_id": d.id,
                    "device_id": device_id,
                    "wave": wave,
                    "state": JobState.QUEUED.value,
                    "offer_state": OfferState.NONE.value,
                    "saw_heartbeat": False,
                    "saw_telemetry": False,
                    "device_confirmed": False,
                    "updated_at": now,
                }
            )
        start += size
    if rows:
        session.execute(insert(Job), rows)
        session.execute(
            insert(JobEvent).from_select(
                ["job_id", "at", "state", "reason"],
                select(
                    Job.id,
                    literal(now, JobEvent.at.type),
                    literal("queued"),
                    literal(f"in deployment {d.id}"),
                ).where(Job.deployment_id == d.id),
            )
        )
    session.add(d)
    return d


def _matches(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


# Ticking -----------------------------------------------------------------------------------------


def view(d: Deployment) -> rule.DeploymentView:
    return rule.DeploymentView(
        state=d.state,
        current_wave=d.current_wave,
        wave_sizes=tuple(d.wave_sizes),
        success_threshold=d.success_threshold,
        max_failure_rate=d.max_failure_rate,
        soak_s=d.soak_s,
        margins=d.health_margins,
        soak_started_at=d.soak_started_at,
        health_accepted_wave=d.health_accepted_wave,
    )


def wave_stats(session: Session, d: Deployment, now: datetime) -> rule.WaveStats | None:
    if d.current_wave < 0:
        return None
    overdue = case((and_(col(Job.state).in_(_ACTIVE), col(Job.deadline) < now), 1), else_=0)
    rows = session.execute(
        select(Job.state, func.count(), func.sum(overdue))
        .where(Job.deployment_id == d.id, Job.wave == d.current_wave)
        .group_by(Job.state)
    ).all()
    return rule.WaveStats(
        wave=d.current_wave,
        size=d.wave_sizes[d.current_wave],
        counts={s: int(n) for s, n, _ in rows},
        overdue=sum(int(o or 0) for *_, o in rows),
    )


def tick(session: Session, d: Deployment, now: datetime) -> list[rule.Action]:
    """Advance one (locked) deployment until the rule has nothing more to do; the actions applied."""
    applied: list[rule.Action] = []
    if d.state == DeploymentState.RUNNING and d.current_wave < 0:
        _start_wave(session, d, 0, now)
        applied.append(rule.StartWave(0))
    for _ in range(len(d.wave_sizes) + 2):
        v = view(d)
        health = measure(session, d, now) if rule.soak_due(v, now) else None
        actions = rule.decide(v, wave_stats(session, d, now), health, now)
        if not actions:
            break
        for a in actions:
            _apply(session, d, a, now)
        applied.extend(actions)
        if not any(isinstance(a, rule.StartWave | rule.FailOverdue) for a in actions):
            break
    session.add(d)
    return applied


def tick_due(session: Session, now: datetime, *, limit: int = 20) -> list[tuple[int, list[rule.Action]]]:
    """Tick every running deployment no other replica is ticking right now."""
    out = []
    stmt = (
        select(Deployment)
        .where(Deployment.state == DeploymentState.RUNNING)
        .order_by(col(Deployment.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    for d in session.execute(stmt).scalars().all():
        out.append((d.id, tick(session, d, now)))
    return out


def _apply(session: Session, d: Deployment, a: rule.Action, now: datetime) -> None:
    match a:
        case rule.FailOverdue(wave):
            ids = list(
                session.execute(
                    select(Job.id).where(
                        Job.deployment_id == d.id,
                        Job.wave == wave,
                        col(Job.state).in_(_ACTIVE),
                        col(Job.deadline) < now,
                    )
                ).scalars()
            )
            _set_many(
                session, ids, JobState.FAILED, "silent past the job deadline", now, offer=OfferState.WITHDRAW
            )
        case rule.StartWave(wave):
            _start_wave(session, d, wave, now)
        case rule.StartSoak():
            d.soak_started_at = now
            base = select(Device.heartbeats).where(Device.id == Job.device_id).scalar_subquery()
            session.execute(update(Job).where(Job.deployment_id == d.id).values(heartbeats_base=base))
        case rule.Halt(reason, evidence):
            _stop(session, d, DeploymentState.HALTED, reason, dict(evidence), now)
        case rule.Pause(reason, evidence):
            _stop(session, d, DeploymentState.PAUSED, reason, dict(evidence), now)
        case rule.Complete(reason):
            d.state = DeploymentState.COMPLETED
            d.state_reason = reason
    d.updated_at = now


def _start_wave(session: Session, d: Deployment, wave: int, now: datetime) -> None:
    d.current_wave = wave
    d.wave_started_at = now
    d.soak_started_at = None
    device = Device.__table__  # type: ignore[attr-defined]
    fw = select(device.c.firmware_version).where(device.c.id == Job.device_id).scalar_subquery()
    boot = select(device.c.boot).where(device.c.id == Job.device_id).scalar_subquery()
    ids = list(
        session.execute(
            select(Job.id).where(Job.deployment_id == d.id, Job.wave == wave, Job.state == JobState.QUEUED)
        ).scalars()
    )
    if not ids:
        return
    session.execute(
        update(Job)
        .where(col(Job.id).in_(ids))
        .values(
            offer_state=OfferState.PENDING,
            offered_at=now,
            deadline=now + timedelta(seconds=d.job_deadline_s),
            version_before=fw,
            boot_before=boot,
            updated_at=now,
        )
    )
    _events(session, ids, JobState.QUEUED, f"offered in wave {wave}", now)


def _stop(
    session: Session,
    d: Deployment,
    state: DeploymentState,
    reason: str,
    evidence: dict[str, Any],
    now: datetime,
) -> None:
    d.state = state
    d.state_reason = reason
    d.evidence = evidence
    d.updated_at = now
    # A device that has not started installing stops when its offer is withdrawn (SPEC §5.5).
    session.execute(
        update(Job)
        .where(
            Job.deployment_id == d.id,
            col(Job.state).in_(_UNSTARTED),
            col(Job.offer_state).in_([OfferState.PENDING, OfferState.PUBLISHED]),
        )
        .values(offer_state=OfferState.WITHDRAW, updated_at=now)
    )


def _events(session: Session, ids: Iterable[int], state: str, reason: str | None, now: datetime) -> None:
    rows = [{"job_id": i, "at": now, "state": str(state), "reason": reason} for i in ids]
    if rows:
        session.execute(insert(JobEvent), rows)


def _set_many(
    session: Session, ids: list[int], state: JobState, reason: str, now: datetime, *, offer: OfferState
) -> None:
    if not ids:
        return
    session.execute(
        update(Job)
        .where(col(Job.id).in_(ids))
        .values(state=state, reason=reason, updated_at=now, finished_at=now, offer_state=offer)
    )
    _events(session, ids, state, reason, now)


# Ops controls ------------------------------------------------------------------------------------


def get(session: Session, deployment_id: int, *, lock: bool = False) -> Deployment:
    stmt = select(Deployment).where(Deployment.id == deployment_id)
    if lock:
        stmt = stmt.with_for_update()
    d = session.execute(stmt).scalars().first()
    if d is None:
        raise NotFoundError("deployment", str(deployment_id))
    return d


def pause(session: Session, d: Deployment, *, now: datetime, reason: str = "paused by ops") -> None:
    if d.state != DeploymentState.RUNNING:
        raise ConflictError(
            what="deployment", key=str(d.id), reason=f"is {d.state}, only a running one pauses"
        )
    _stop(session, d, DeploymentState.PAUSED, reason, d.evidence, now)


def resume(session: Session, d: Deployment, *, now: datetime, accept_evidence: bool = False) -> None:
    if d.state not in (DeploymentState.PAUSED, DeploymentState.HALTED):
        raise ConflictError(what="deployment", key=str(d.id), reason=f"is {d.state}; nothing to resume")
    if accept_evidence:
        d.health_accepted_wave = d.current_wave
    d.state = DeploymentState.RUNNING
    d.state_reason = "resumed by ops" + (" (health evidence accepted)" if accept_evidence else "")
    d.updated_at = now
    session.execute(
        update(Job)
        .where(
            Job.deployment_id == d.id,
            Job.wave == d.current_wave,
            col(Job.state).in_(_UNSTARTED),
            col(Job.offer_state).in_([OfferState.WITHDRAW, OfferState.WITHDRAWN]),
        )
        .values(
            offer_state=OfferState.PENDING, deadline=now + timedelta(seconds=d.job_deadline_s), updated_at=now
        )
    )


def abort(session: Session, d: Deployment, *, now: datetime) -> None:
    if d.state in (DeploymentState.ABORTED, DeploymentState.COMPLETED):
        raise ConflictError(what="deployment", key=str(d.id), reason=f"is {d.state} already")
    _stop(session, d, DeploymentState.ABORTED, "aborted by ops", d.evidence, now)


def wave_counts(session: Session, d: Deployment) -> dict[int, dict[str, int]]:
    """Jobs per state in each wave of `d`: wave -> {state: count}."""
    counts: dict[int, dict[str, int]] = {}
    for wave, state, n in session.execute(
        select(Job.wave, Job.state, func.count())
        .where(Job.deployment_id == d.id)
        .group_by(Job.wave, Job.state)
    ).all():
        counts.setdefault(wave, {})[state] = n
    return counts


def control(
    session: Session,
    deployment_id: int,
    action: str,
    *,
    now: datetime,
    actor: str = "ops",
    accept_evidence: bool = False,
) -> Deployment:
    """Ops' pause, resume or abort of a deployment (REST and the UI both come here); uncommitted."""
    d = get(session, deployment_id, lock=True)
    if action == "pause":
        pause(session, d, now=now, reason=f"paused by {actor}")
    elif action == "resume":
        resume(session, d, now=now, accept_evidence=accept_evidence)
        tick(session, d, now)
    elif action == "abort":
        abort(session, d, now=now)
    else:
        raise ConflictError(what="deployment", key=str(deployment_id), reason=f"unknown action {action!r}")
    return d


# The job state machine, fed by the bridge ---------------------------------------------------------


@dataclass(slots=True)
class _Active:
    job: Job
    version: str


def _active_jobs(session: Session, device_ids: set[str]) -> dict[str, _Active]:
    if not device_ids:
        return {}
    rows = session.execute(
        select(Job, Release.version)
        .join(Deployment, Deployment.id == Job.deployment_id)
        .join(Release, Release.id == Deployment.release_id)
        .where(
            col(Job.device_id).in_(sorted(device_ids)),
            col(Job.state).in_(_ACTIVE),
            Job.offer_state != OfferState.NONE,
        )
        .with_for_update(of=Job)
    ).all()
    return {job.device_id: _Active(job, str(version)) for job, version in rows}


def _move(
    session: Session, job: Job, state: str, reason: str | None, now: datetime, progress: int | None = None
) -> None:
    changed = state != job.state
    job.state = state
    job.reason = reason
    job.progress = progress
    job.updated_at = now
    if state in _TERMINAL:
        job.finished_at = now
        job.offer_state = OfferState.WITHDRAW
    if changed:
        session.add(JobEvent(job_id=job.id, at=now, state=state, reason=reason, progress=progress))  # type: ignore[arg-type]
    session.add(job)


def observe(
    session: Session,
    messages: Sequence[Message],
    batches: Sequence[Batch],
    *,
    deadline_s: dict[int, int] | None = None,
    now: datetime,
) -> int:
    """Apply one flush's OTA evidence to the devices' active jobs; how many jobs changed.

    ``ota_status`` moves a job to what the device reports; a ``hello`` of a new boot with the
    offered version means it booted the update (confirming), with the old version after
    rebooting into it means it rolled back; a heartbeat and telemetry of that new boot complete
    the self-test: only then is the job ``succeeded`` (RULES.md, "Success means committed").
    """
    relevant = {m.device for m in messages if m.type in ("ota_status", "hello", "heartbeat")}
    relevant.update(b.device_id for b in batches)
    active = _active_jobs(session, relevant)
    if not active:
        return 0
    deadlines = deadline_s or dict(
        session.execute(
            select(Deployment.id, Deployment.job_deadline_s).where(
                col(Deployment.id).in_({a.job.deployment_id for a in active.values()})
            )
        ).all()
    )
    touched: set[int] = set()
    for m in messages:
        a = active.get(m.device)
        if a is None or a.job.state in _TERMINAL:
            continue
        job = a.job
        before = (job.state, job.saw_heartbeat, job.booted_boot)
        if m.type == "ota_status":
            match = _JOB_ID.fullmatch(m.body["job"])
            if match is None or int(match[1]) != job.id:
                continue
            state, reason = m.body["state"], m.body.get("reason")
            job.deadline = now + timedelta(seconds=deadlines[job.deployment_id])
            if state == JobState.SUCCEEDED:
                job.device_confirmed = True
                if not _committed(job):
                    _move(
                        session,
                        job,
                        JobState.CONFIRMING,
                        "device self-test passed; awaiting heartbeat and telemetry of the new boot",
                        now,
                    )
            elif state != JobState.QUEUED:
                _move(session, job, state, reason, now, m.body.get("progress"))
        elif m.type == "hello" and m.boot != job.boot_before:
            fw = m.body["fw"]
            job.deadline = now + timedelta(seconds=deadlines[job.deployment_id])
            if fw == a.version and job.booted_boot != m.boot:
                job.booted_boot = m.boot
                job.saw_heartbeat = job.saw_telemetry = job.device_confirmed = False
                _move(session, job, JobState.CONFIRMING, f"booted version {fw} (boot {m.boot})", now)
            elif fw != a.version and job.state in (JobState.REBOOTING, JobState.CONFIRMING):
                _move(session, job, JobState.ROLLED_BACK, f"booted version {fw} again after the update", now)
        elif m.type == "heartbeat" and job.booted_boot == m.boot:
            job.saw_heartbeat = True
        if (job.state, job.saw_heartbeat, job.booted_boot) != before:
            touched.add(job.id)  # type: ignore[arg-type]
        session.add(job)
    for b in batches:
        a = active.get(b.device_id)
        if a is not None and a.job.booted_boot == b.boot and not a.job.saw_telemetry:
            a.job.saw_telemetry = True
            touched.add(a.job.id)  # type: ignore[arg-type]
            session.add(a.job)
    for a in active.values():
        job = a.job
        if job.state not in _TERMINAL and _committed(job):
            _move(
                session,
                job,
                JobState.SUCCEEDED,
                f"committed: version {a.version} heartbeating with telemetry in boot {job.booted_boot}",
                now,
            )
    return len(touched)


def _committed(job: Job) -> bool:
    # The device's own `succeeded` too: an ESP32 marks its boot valid only after its self-test, and a
    # power cut before that rolls it back although the cloud has seen its heartbeat and telemetry.
    return job.device_confirmed and job.booted_boot is not None and job.saw_heartbeat and job.saw_telemetry


# The ota/offer outbox ----------------------------------------------------------------------------


def offers_due(session: Session, *, now: datetime, limit: int = 500) -> list[tuple[int, str, str, bytes]]:
    """(job id, offer state to record after publishing, topic, payload) of offers to publish or withdraw."""
    rows = session.execute(
        select(Job.id, Job.device_id, Job.offer_state, Release, Deployment.base_url)
        .join(Deployment, Deployment.id == Job.deployment_id)
        .join(Release, Release.id == Deployment.release_id)
        .where(col(Job.offer_state).in_([OfferState.PENDING, OfferState.WITHDRAW]))
        .order_by(col(Job.id))
        .limit(limit)
        .with_for_update(of=Job, skip_locked=True)
    ).all()
    out = []
    for job_id, device_id, offer_state, release, base_url in rows:
        topic = topics.topic(device_id, topics.OTA_OFFER)
        if offer_state == OfferState.WITHDRAW:
            out.append((job_id, OfferState.WITHDRAWN.value, topic, b""))  # MQTT's retained deletion
            continue
        artifact, metadata = urls(base_url, release.id)
        body = {
            "job": job_name(job_id),
            "version": str(release.version),
            "url": artifact,
            "sha256": release.sha256,
            "length": release.length,
            "metadata": metadata,
        }
        msg = make("ota_offer", device_id, CLOUD_BOOT, job_id % 2**31, int(now.timestamp() * 1000), body)
        out.append((job_id, OfferState.PUBLISHED.value, topic, encode(msg)))
    return out


def mark_offers(session: Session, done: Sequence[tuple[int, str]]) -> None:
    """Record published offers, unless the job's offer changed meanwhile (e.g. withdrawn)."""
    for new_state, expected in (
        (OfferState.PUBLISHED, OfferState.PENDING),
        (OfferState.WITHDRAWN, OfferState.WITHDRAW),
    ):
        ids = [i for i, s in done if s == new_state]
        for start in range(0, len(ids), 1000):
            session.execute(
                update(Job)
                .where(col(Job.id).in_(ids[start : start + 1000]), Job.offer_state == expected)
                .values(offer_state=new_state)
            )
