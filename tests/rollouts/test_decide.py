"""The rollout rule, a pure function: waves, thresholds, failure limit, deadlines, soak and health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloud.rollouts.decide import (
    Complete,
    DeploymentView,
    FailOverdue,
    Halt,
    Health,
    HealthSample,
    Pause,
    StartSoak,
    StartWave,
    WaveStats,
    decide,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _d(**kw: object) -> DeploymentView:
    base: dict[str, object] = {
        "state": "running",
        "current_wave": 0,
        "wave_sizes": (1, 9, 40, 50),
        "success_threshold": 0.9,
        "max_failure_rate": 0.1,
        "soak_s": 0,
    }
    return DeploymentView(**(base | kw))  # type: ignore[arg-type]


def _w(wave: int = 0, size: int = 10, overdue: int = 0, **counts: int) -> WaveStats:
    return WaveStats(
        wave=wave, size=size, counts={k.replace("_", "-"): v for k, v in counts.items()}, overdue=overdue
    )


def test_a_wave_in_progress_waits() -> None:
    assert decide(_d(), _w(size=1, downloading=1), None, NOW) == []


def test_a_wave_that_reaches_its_threshold_starts_the_next() -> None:
    assert decide(_d(), _w(size=1, succeeded=1), None, NOW) == [StartWave(1)]
    assert decide(_d(current_wave=1), _w(1, 9, succeeded=9), None, NOW) == [StartWave(2)]


def test_the_last_wave_completes() -> None:
    assert decide(_d(current_wave=3), _w(3, 50, succeeded=50), None, NOW) == [
        Complete("all 4 waves succeeded")
    ]


def test_failures_above_the_limit_halt_before_the_wave_ends() -> None:
    (halt,) = decide(_d(current_wave=2), _w(2, 40, failed=3, rolled_back=2, downloading=35), None, NOW)
    assert isinstance(halt, Halt)
    assert "failure rate 12%" in halt.reason
    assert halt.evidence["wave"]["rolled_back"] == 2


def test_a_finished_wave_below_threshold_halts() -> None:
    (halt,) = decide(_d(current_wave=2, max_failure_rate=0.5), _w(2, 40, succeeded=35, failed=5), None, NOW)
    assert isinstance(halt, Halt)
    assert "below the threshold" in halt.reason


def test_silent_devices_fail_and_count_against_the_wave() -> None:
    actions = decide(_d(current_wave=1), _w(1, 9, overdue=1, succeeded=8, confirming=1), None, NOW)
    assert actions[0] == FailOverdue(1)
    assert isinstance(actions[1], Halt)  # 1/9 = 11% > 10%
    assert decide(
        _d(current_wave=1, max_failure_rate=0.2), _w(1, 9, overdue=1, succeeded=8, offered=1), None, NOW
    )[1:] == [
        Halt(
            "wave 1: 89% succeeded, below the threshold 90%",
            {
                "wave": {
                    "wave": 1,
                    "size": 9,
                    "succeeded": 8,
                    "failed": 1,
                    "rolled_back": 0,
                    "silent_past_deadline": 1,
                    "unfinished": 0,
                }
            },
        )
    ]


def test_a_passed_wave_soaks_then_compares_health() -> None:
    d = _d(soak_s=600)
    assert decide(d, _w(size=1, succeeded=1), None, NOW) == [StartSoak(0)]
    soaking = _d(soak_s=600, soak_started_at=NOW)
    assert decide(soaking, _w(size=1, succeeded=1), None, NOW + timedelta(seconds=10)) == []
    healthy = Health(
        wave=HealthSample(devices=1, metrics={"reboots": 0.0, "heartbeat_ratio": 0.95}),
        control=HealthSample(devices=99, metrics={"reboots": 0.1, "heartbeat_ratio": 1.0}),
    )
    later = NOW + timedelta(seconds=600)
    assert decide(soaking, _w(size=1, succeeded=1), healthy, later) == [StartWave(1)]
    sick = Health(
        wave=HealthSample(devices=1, metrics={"reboots": 3.0, "heartbeat_ratio": 0.5}),
        control=HealthSample(devices=99, metrics={"reboots": 0.1, "heartbeat_ratio": 1.0}),
    )
    (pause,) = decide(soaking, _w(size=1, succeeded=1), sick, later)
    assert isinstance(pause, Pause)
    assert set(pause.evidence["regressions"]) == {"reboots", "heartbeat_ratio"}
    assert pause.evidence["regressions"]["reboots"] == {"wave": 3.0, "control": 0.1, "margin": 0.5}
    # Ops accepted the evidence for this wave: no second comparison.
    assert decide(_d(soak_s=600, health_accepted_wave=0), _w(size=1, succeeded=1), None, NOW) == [
        StartWave(1)
    ]


def test_nothing_happens_unless_running() -> None:
    for state in ("paused", "halted", "aborted", "completed"):
        assert decide(_d(state=state), _w(size=1, succeeded=1), None, NOW) == []


def test_an_empty_wave_passes_at_once() -> None:
    assert decide(_d(soak_s=600), _w(size=0), None, NOW) == [StartWave(1)]
