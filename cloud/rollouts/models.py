"""Deployments, their per-device jobs, and each job's history.

A ``Deployment`` sends one release to a device group in waves; each device of the group gets one
``Job`` (its wave fixed at creation), and every change of a job's state is a ``JobEvent`` with its
time and reason. Nothing of a rollout lives in memory: any replica's sweeper can run the next step.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from cloud.core.types import JSONDoc, UTCDateTime


class DeploymentState(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # by ops, or by a health regression (evidence stored)
    HALTED = "halted"  # by itself: a wave's failures passed the limit or missed the threshold
    ABORTED = "aborted"  # by ops, final
    COMPLETED = "completed"


class JobState(enum.StrEnum):
    """protocol/SPEC.md §5.5, in the order a job moves through them."""

    QUEUED = "queued"
    OFFERED = "offered"
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    INSTALLING = "installing"
    REBOOTING = "rebooting"
    CONFIRMING = "confirming"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.ROLLED_BACK})
PROGRESS = (
    JobState.QUEUED,
    JobState.OFFERED,
    JobState.DOWNLOADING,
    JobState.VERIFYING,
    JobState.INSTALLING,
    JobState.REBOOTING,
    JobState.CONFIRMING,
)


class OfferState(enum.StrEnum):
    """The retained ota/offer of a job, published through an outbox any replica drains."""

    NONE = "none"  # never offered: a device of a later wave, untouched
    PENDING = "pending"
    PUBLISHED = "published"
    WITHDRAW = "withdraw"  # an empty retained payload is due (job ended, paused, aborted)
    WITHDRAWN = "withdrawn"


class Deployment(SQLModel, table=True):
    __tablename__ = "deployment"
    __table_args__ = (Index("ix_deployment_state", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    release_id: int = Field(foreign_key="release.id")
    # The group: {"hardware": "esp32", "labels": {"fleet": "vienna"}, "ids": [...]} (all optional, ANDed).
    selector: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    # Cumulative percentages of the group, ending at 100: [1, 10, 50, 100].
    waves: list[int] = Field(default_factory=list, sa_type=JSONDoc)
    # Device counts per wave, fixed when the jobs were created.
    wave_sizes: list[int] = Field(default_factory=list, sa_type=JSONDoc)
    success_threshold: float = 0.95
    max_failure_rate: float = 0.05
    job_deadline_s: int = 1800
    soak_s: int = 600
    # Health margins per metric (cloud/rollouts/RULES.md); absent ones take the defaults.
    health_margins: dict[str, float] = Field(default_factory=dict, sa_type=JSONDoc)
    base_url: str = Field(max_length=256)
    state: str = Field(default=DeploymentState.RUNNING, max_length=16)
    state_reason: str | None = Field(default=None, max_length=512)
    current_wave: int = 0
    wave_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    soak_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A wave whose health evidence ops accepted on resume: it is not compared again.
    health_accepted_wave: int | None = None
    # What made the rollout stop (wave stats, health comparison), served by the API.
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Job(SQLModel, table=True):
    __tablename__ = "rollout_job"
    __table_args__ = (
        UniqueConstraint("deployment_id", "device_id", name="uq_rollout_job_device"),
        Index("ix_rollout_job_wave_state", "deployment_id", "wave", "state"),
        Index("ix_rollout_job_device_state", "device_id", "state"),
        Index("ix_rollout_job_offer", "offer_state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    deployment_id: int = Field(foreign_key="deployment.id")
    device_id: str = Field(sa_type=String(64), foreign_key="device.id")
    wave: int
    state: str = Field(default=JobState.QUEUED, max_length=16)
    reason: str | None = Field(default=None, max_length=200)
    progress: int | None = None
    offer_state: str = Field(default=OfferState.NONE, max_length=16)
    offered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Silence deadline: every report from the device moves it; passing it fails the job.
    deadline: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # What the device ran when offered, and the evidence of the commit (protocol hello/heartbeat/telemetry).
    version_before: str | None = Field(default=None, max_length=64)
    boot_before: str | None = Field(default=None, max_length=64)
    booted_boot: str | None = Field(default=None, max_length=64)
    saw_heartbeat: bool = False
    saw_telemetry: bool = False
    device_confirmed: bool = False
    # Heartbeat counter of the device when the soak began (health comparison).
    heartbeats_base: int | None = Field(default=None, sa_type=BigInteger)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class JobEvent(SQLModel, table=True):
    __tablename__ = "rollout_job_event"
    __table_args__ = (Index("ix_rollout_job_event_job", "job_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="rollout_job.id")
    at: datetime = Field(sa_type=UTCDateTime)
    state: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=200)
    progress: int | None = None


class DeploymentCreate(SQLModel):
    name: str = Field(min_length=1, max_length=128)
    release_id: int
    hardware: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    device_ids: list[str] | None = None
    waves: list[int] = Field(default_factory=lambda: [1, 10, 50, 100])
    success_threshold: float = Field(default=0.95, ge=0, le=1)
    max_failure_rate: float = Field(default=0.05, ge=0, le=1)
    job_deadline_s: int = Field(default=1800, ge=1)
    soak_s: int = Field(default=600, ge=0)
    health_margins: dict[str, float] = Field(default_factory=dict)


class ResumeIn(SQLModel):
    # Proceed past the current wave even though its health comparison showed a regression.
    accept_evidence: bool = False


class WaveSummary(SQLModel):
    wave: int
    percent: int
    size: int
    counts: dict[str, int]


class DeploymentPublic(SQLModel):
    id: int
    name: str
    release_id: int
    selector: dict[str, Any]
    waves: list[int]
    success_threshold: float
    max_failure_rate: float
    job_deadline_s: int
    soak_s: int
    health_margins: dict[str, float]
    state: str
    state_reason: str | None
    current_wave: int
    wave_started_at: datetime | None
    soak_started_at: datetime | None
    evidence: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    wave_summary: list[WaveSummary] = Field(default_factory=list)


class JobEventPublic(SQLModel):
    at: datetime
    state: str
    reason: str | None
    progress: int | None


class JobPublic(SQLModel):
    id: int
    job: str
    device_id: str
    wave: int
    state: str
    reason: str | None
    progress: int | None
    offer_state: str
    offered_at: datetime | None
    deadline: datetime | None
    version_before: str | None
    updated_at: datetime
    finished_at: datetime | None
    history: list[JobEventPublic] = Field(default_factory=list)
