"""The rollout rule as a pure function: ``decide(deployment, wave_stats, health, now) -> actions``.

No database, no broker, no clock: the service loads the facts, calls this, and applies the actions
(cloud/rollouts/service.py). The rule is written down in RULES.md; tests drive it with plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cloud.rollouts.models import DeploymentState, JobState

# Per-device margins by which the updated wave may be worse than the devices still on the old
# version before the rollout pauses (RULES.md, "Health"). heartbeat_ratio: lower is worse.
DEFAULT_MARGINS: Mapping[str, float] = {
    "reboots": 0.5,
    "disconnects": 1.0,
    "gaps": 1.0,
    "dead_letters": 1.0,
    "heartbeat_ratio": 0.2,
}
LOWER_IS_WORSE = frozenset({"heartbeat_ratio"})


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentView:
    state: str
    current_wave: int
    wave_sizes: tuple[int, ...]
    success_threshold: float
    max_failure_rate: float
    soak_s: int
    margins: Mapping[str, float] = field(default_factory=dict)
    soak_started_at: datetime | None = None
    health_accepted_wave: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WaveStats:
    """Job counts of one wave by state; ``overdue`` of the non-terminal ones are past their deadline."""

    wave: int
    size: int
    counts: Mapping[str, int]
    overdue: int = 0

    def count(self, state: str) -> int:
        return self.counts.get(state, 0)

    @property
    def failures(self) -> int:
        return self.count(JobState.FAILED) + self.count(JobState.ROLLED_BACK) + self.overdue

    @property
    def succeeded(self) -> int:
        return self.count(JobState.SUCCEEDED)

    @property
    def unfinished(self) -> int:
        return self.size - self.succeeded - self.count(JobState.FAILED) - self.count(JobState.ROLLED_BACK)


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthSample:
    """A group's health over the soak window, per device (heartbeat_ratio: received / expected)."""

    devices: int
    metrics: Mapping[str, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    wave: HealthSample
    control: HealthSample


# Actions -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FailOverdue:
    """Jobs of ``wave`` silent past their deadline become failed (they count against the wave)."""

    wave: int


@dataclass(frozen=True, slots=True)
class StartWave:
    wave: int


@dataclass(frozen=True, slots=True)
class StartSoak:
    wave: int


@dataclass(frozen=True, slots=True)
class Halt:
    reason: str
    evidence: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Pause:
    reason: str
    evidence: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Complete:
    reason: str


Action = FailOverdue | StartWave | StartSoak | Halt | Pause | Complete


def soak_due(d: DeploymentView, now: datetime) -> bool:
    """Whether the soak of the current wave is over, i.e. the health comparison is needed now."""
    return d.soak_started_at is not None and now >= d.soak_started_at + timedelta(seconds=d.soak_s)


def _stats(s: WaveStats) -> dict[str, Any]:
    return {
        "wave": s.wave,
        "size": s.size,
        "succeeded": s.succeeded,
        "failed": s.count(JobState.FAILED) + s.overdue,
        "rolled_back": s.count(JobState.ROLLED_BACK),
        "silent_past_deadline": s.overdue,
        "unfinished": s.unfinished - s.overdue,
    }


def regressions(health: Health, margins: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Metrics where the updated wave is worse than the control group by more than the margin."""
    out = {}
    for name, default in DEFAULT_MARGINS.items():
        margin = margins.get(name, default)
        w = health.wave.metrics.get(name, 0.0)
        c = health.control.metrics.get(name, 0.0)
        worse = (c - w) if name in LOWER_IS_WORSE else (w - c)
        if worse > margin:
            out[name] = {"wave": round(w, 4), "control": round(c, 4), "margin": margin}
    return out


def decide(d: DeploymentView, wave: WaveStats | None, health: Health | None, now: datetime) -> list[Action]:
    """What to do next for a deployment. ``wave`` describes ``d.current_wave``; ``health`` is given
    only when ``soak_due`` (the service measures it then)."""
    if d.state != DeploymentState.RUNNING or wave is None:
        return []
    actions: list[Action] = []
    if wave.overdue:
        actions.append(FailOverdue(wave.wave))
    last = wave.wave >= len(d.wave_sizes) - 1
    if wave.size and wave.failures / wave.size > d.max_failure_rate:
        rate = wave.failures / wave.size
        return [
            *actions,
            Halt(
                f"wave {wave.wave}: failure rate {rate:.0%} is above the limit {d.max_failure_rate:.0%}",
                {"wave": _stats(wave)},
            ),
        ]
    if wave.unfinished - wave.overdue > 0:
        return actions  # still waiting for devices (each with its own deadline)
    if wave.size and wave.succeeded / wave.size < d.success_threshold:
        rate = wave.succeeded / wave.size
        return [
            *actions,
            Halt(
                f"wave {wave.wave}: {rate:.0%} succeeded, below the threshold {d.success_threshold:.0%}",
                {"wave": _stats(wave)},
            ),
        ]
    if last:
        return [*actions, Complete(f"all {len(d.wave_sizes)} waves succeeded")]
    soak = d.soak_s > 0 and wave.size > 0 and d.health_accepted_wave != wave.wave
    if soak and d.soak_started_at is None:
        return [*actions, StartSoak(wave.wave)]
    if soak and not soak_due(d, now):
        return actions
    if soak and health is not None and health.control.devices and health.wave.devices:
        found = regressions(health, d.margins)
        if found:
            names = ", ".join(sorted(found))
            return [
                *actions,
                Pause(
                    f"wave {wave.wave}: health regression against devices on the old version ({names})",
                    {
                        "wave": _stats(wave),
                        "regressions": found,
                        "updated": {"devices": health.wave.devices, **health.wave.metrics},
                        "control": {"devices": health.control.devices, **health.control.metrics},
                        "soak_s": d.soak_s,
                    },
                ),
            ]
    return [*actions, StartWave(wave.wave + 1)]
