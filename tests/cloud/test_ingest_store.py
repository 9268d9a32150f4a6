"""The exactly-once store on SQLite and PostgreSQL: duplicates stored once, gaps open and close."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from cloud.core.types import from_ms, utcnow
from cloud.ingest.models import TelemetryStream, observation
from cloud.ingest.reports import completeness, gaps
from cloud.ingest.rows import ObsRow
from cloud.ingest.store import Batch, ingest, observation_rows, prepare_copy
from cloud.registry.models import Device

T0 = 1_700_000_000_000


def _batch(n: int, *, device: str = "dev-1", boot: str = "b1", obs: int = 3) -> Batch:
    rows = [ObsRow(i * 10, "w", f"{n:08x}{i:08x}", -60, 0, 49_000_000, 16_000_000) for i in range(obs)]
    return Batch(device, boot, n, seq=100 + n, t0_ms=T0 + n * 1000, obs=rows)


def _ingest(engine: Engine, batches: list[Batch]):  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        return ingest(conn, batches, now=utcnow())


def _obs_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(observation)).scalar_one()


def test_redelivered_batches_are_stored_once(engine: Engine) -> None:
    with Session(engine) as s:
        s.add(Device(id="dev-1"))
        s.commit()
    first = _ingest(engine, [_batch(0), _batch(1), _batch(1)])
    assert (first.batches, first.duplicates, first.observations) == (2, 1, 6)
    again = _ingest(engine, [_batch(0), _batch(1), _batch(2)])
    assert (again.batches, again.duplicates, again.observations) == (1, 2, 3)
    assert _obs_count(engine) == 9
    with Session(engine) as s:
        device = s.get(Device, "dev-1")
        assert device is not None
        assert (device.telemetry_batches, device.observations) == (3, 9)
        stream = s.get(TelemetryStream, ("dev-1", "b1"))
        assert stream is not None
        assert (stream.received, stream.duplicates, stream.max_batch) == (3, 3, 2)


def test_a_gap_opens_and_closes_when_late_batches_arrive(engine: Engine) -> None:
    r = _ingest(engine, [_batch(0), _batch(1), _batch(5)])
    assert r.gaps_opened == 1
    with Session(engine) as s:
        (gap,) = gaps(s, "dev-1", open_only=True)
        assert (gap.first_batch, gap.last_batch, gap.missing) == (2, 4, 3)
        c = completeness(s, "dev-1", since=from_ms(T0), until=from_ms(T0 + 10_000))
        assert (c.received, c.missing, c.expected) == (3, 3, 6)
    _ingest(engine, [_batch(3)])
    with Session(engine) as s:
        assert [(g.first_batch, g.last_batch) for g in gaps(s, "dev-1", open_only=True)] == [(2, 2), (4, 4)]
    r = _ingest(engine, [_batch(4), _batch(2)])
    assert r.gaps_closed == 2
    with Session(engine) as s:
        assert gaps(s, "dev-1", open_only=True) == []
        assert all(g.closed_at is not None for g in gaps(s, "dev-1"))
        c = completeness(s, "dev-1", since=from_ms(T0), until=from_ms(T0 + 10_000))
        assert (c.received, c.missing, c.completeness) == (6, 0, 1.0)


def test_a_new_boot_starts_a_new_sequence_without_a_false_gap(engine: Engine) -> None:
    _ingest(engine, [_batch(0), _batch(1), _batch(2)])
    _ingest(engine, [_batch(0, boot="b2"), _batch(1, boot="b2")])
    with Session(engine) as s:
        assert gaps(s, "dev-1") == []
        now = utcnow()
        c = completeness(s, "dev-1", since=now - timedelta(days=10_000), until=now)
        assert c.completeness == 1.0
    assert _obs_count(engine) == 15


def test_prepared_batches_store_the_same_rows_as_unprepared_ones(engine: Engine) -> None:
    """The bridge formats COPY data ahead of the flush (prepare_copy); the table must not tell."""
    nulls = Batch(
        "dev-2", "b2", 0, seq=0, t0_ms=T0, obs=[ObsRow(5, "b", "00ff00ff00ff00ff", -127, 255, None, None)]
    )
    batches = [_batch(0, obs=4), _batch(1, obs=0), nulls]
    prepared = prepare_copy(batches)
    r = _ingest(engine, [*prepared, _batch(0, obs=4)])  # the repeated batch is still a duplicate
    assert (r.batches, r.duplicates, r.observations) == (3, 1, 5)
    with engine.connect() as conn:
        stored = conn.execute(
            select(observation).order_by(observation.c.device_id, observation.c.ts_ms)
        ).all()
    expected = sorted((row for b in batches for row in observation_rows(b)), key=lambda t: (t[0], t[3]))
    assert [tuple(s) for s in stored] == expected
