"""Measuring a wave's health against the devices still on the old version, over the soak window.

Both groups are jobs of the same deployment: the current wave's succeeded devices, and the devices
of later waves (still queued, never offered). Every figure comes from what the cloud already
records (RULES.md, "Health"): new boots (telemetry streams started), offline transitions, telemetry
gaps opened, dead letters, and heartbeats received against those expected. One grouped query per
metric, whatever the fleet size.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, case, cast, func, select
from sqlmodel import Session

from cloud.ingest.models import DeadLetter, TelemetryGap, TelemetryStream
from cloud.registry.models import Device, StatusChange
from cloud.rollouts.decide import Health, HealthSample
from cloud.rollouts.models import Deployment, Job, JobState, OfferState

_DEFAULT_INTERVAL_S = 60.0


def _groups(d: Deployment):  # type: ignore[no-untyped-def]
    """(device_id, group) of both groups as a subquery."""
    group = case((Job.wave == d.current_wave, "wave"), else_="control").label("grp")
    return (
        select(Job.device_id, group, Job.heartbeats_base)
        .where(Job.deployment_id == d.id)
        .where(
            ((Job.wave == d.current_wave) & (Job.state == JobState.SUCCEEDED))
            | ((Job.wave > d.current_wave) & (Job.offer_state == OfferState.NONE))
        )
        .subquery()
    )


def measure(session: Session, d: Deployment, now: datetime) -> Health:
    assert d.soak_started_at is not None
    since = d.soak_started_at
    g = _groups(d)
    sizes = dict(session.execute(select(g.c.grp, func.count()).group_by(g.c.grp)).all())
    totals: dict[str, dict[str, float]] = {"wave": {}, "control": {}}

    def count(name: str, table, device_col, time_col, *where) -> None:  # type: ignore[no-untyped-def]
        stmt = (
            select(g.c.grp, func.count())
            .select_from(g.join(table, device_col == g.c.device_id))
            .where(time_col >= since, *where)
            .group_by(g.c.grp)
        )
        for grp, n in session.execute(stmt).all():
            totals[grp][name] = float(n)

    count("reboots", TelemetryStream, TelemetryStream.device_id, TelemetryStream.started_at)
    count(
        "disconnects",
        StatusChange,
        StatusChange.device_id,
        StatusChange.at,
        StatusChange.to_status == "offline",
    )
    count("gaps", TelemetryGap, TelemetryGap.device_id, TelemetryGap.opened_at)
    count("dead_letters", DeadLetter, DeadLetter.device_id, DeadLetter.received_at)
    window = max((now - since).total_seconds(), 1.0)
    interval = func.coalesce(Device.heartbeat_interval_s, _DEFAULT_INTERVAL_S)
    hb = session.execute(
        select(
            g.c.grp,
            func.sum(Device.heartbeats - func.coalesce(g.c.heartbeats_base, Device.heartbeats)),
            func.sum(cast(window, Float) / interval),
        )
        .select_from(g.join(Device, Device.id == g.c.device_id))
        .group_by(g.c.grp)
    ).all()
    for grp, got, expected in hb:
        totals[grp]["heartbeat_ratio_raw"] = float(got or 0) / float(expected or 1)

    def sample(grp: str) -> HealthSample:
        n = int(sizes.get(grp, 0))
        t = totals[grp]
        metrics = {
            k: (t.get(k, 0.0) / n if n else 0.0) for k in ("reboots", "disconnects", "gaps", "dead_letters")
        }
        metrics["heartbeat_ratio"] = round(t.get("heartbeat_ratio_raw", 0.0), 4)
        return HealthSample(devices=n, metrics=metrics)

    return Health(wave=sample("wave"), control=sample("control"))
