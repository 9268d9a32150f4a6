"""Prometheus metrics of the control plane.

Counters and histograms are per process (Prometheus sums replicas); fleet-wide gauges (devices by
status, open gaps, dead letters stored) are read from the database at scrape time by `FleetCollector`,
so every replica reports the same truth and none keeps it in memory.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

REGISTRY = CollectorRegistry(auto_describe=True)

INGEST_OBSERVATIONS = Counter(
    "mobilytics_ingest_observations",
    "Observations stored (rate() of this is the ingest rows/s).",
    registry=REGISTRY,
)
INGEST_BATCHES = Counter("mobilytics_ingest_batches", "Telemetry batches stored once.", registry=REGISTRY)
INGEST_DUPLICATES = Counter(
    "mobilytics_ingest_duplicate_batches",
    "Telemetry batches received again and not stored (redeliveries).",
    registry=REGISTRY,
)
GAPS_OPENED = Counter("mobilytics_ingest_gaps_opened", "Sequence gaps opened.", registry=REGISTRY)
GAPS_CLOSED = Counter(
    "mobilytics_ingest_gaps_closed", "Sequence gaps closed by late batches.", registry=REGISTRY
)
DEAD_LETTERS = Counter(
    "mobilytics_dead_letters", "Messages dead-lettered, by reason code.", ["reason"], registry=REGISTRY
)
FLUSH_SECONDS = Histogram(
    "mobilytics_ingest_flush_seconds",
    "Time to write and commit one flush.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
FLUSH_MESSAGES = Histogram(
    "mobilytics_ingest_flush_messages",
    "MQTT messages per flush.",
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2000),
    registry=REGISTRY,
)
HEARTBEAT_LAG = Histogram(
    "mobilytics_heartbeat_lag_seconds",
    "How late a heartbeat arrived after the previous one, beyond the device's declared interval.",
    buckets=(0, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
TRANSITIONS = Counter(
    "mobilytics_presence_transitions",
    "Presence transitions, by target status and reason.",
    ["to_status", "reason"],
    registry=REGISTRY,
)


class FleetCollector(Collector):
    """Gauges computed from the database when Prometheus scrapes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from cloud.ingest.models import DeadLetter, TelemetryGap
        from cloud.registry.models import Device, PresenceStatus

        devices = GaugeMetricFamily("mobilytics_devices", "Devices by presence status.", labels=["status"])
        flapping = GaugeMetricFamily("mobilytics_devices_flapping", "Devices flagged as flapping.")
        gaps = GaugeMetricFamily("mobilytics_ingest_open_gaps", "Open telemetry sequence gaps.")
        missing = GaugeMetricFamily("mobilytics_ingest_missing_batches", "Batches missing in open gaps.")
        dead = GaugeMetricFamily(
            "mobilytics_dead_letters_stored", "Dead-letter rows stored.", labels=["reason"]
        )
        dev = Device.__table__  # type: ignore[attr-defined]
        gap = TelemetryGap.__table__  # type: ignore[attr-defined]
        dl = DeadLetter.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            counts = dict(conn.execute(select(dev.c.status, func.count()).group_by(dev.c.status)).all())
            for status in PresenceStatus:
                devices.add_metric([status.value], counts.get(status.value, 0))
            flapping.add_metric(
                [], conn.execute(select(func.count()).where(dev.c.flapping.is_(True))).scalar_one()
            )
            n, m = conn.execute(
                select(
                    func.count(), func.coalesce(func.sum(gap.c.last_batch - gap.c.first_batch + 1), 0)
                ).where(gap.c.closed_at.is_(None))
            ).one()
            gaps.add_metric([], n)
            missing.add_metric([], m)
            for reason, k in conn.execute(select(dl.c.reason, func.count()).group_by(dl.c.reason)).all():
                dead.add_metric([reason], k)
        yield from (devices, flapping, gaps, missing, dead)
