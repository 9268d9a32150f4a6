"""Rollout orchestration for 10,000 simulated devices: wall time and database queries.

    /work/venv/bin/python bench/rollout_orchestration.py [--devices 10000] [--db postgresql://...]

Runs the real code against a real database (a fresh SQLite file by default, or a new database on
the PostgreSQL server ``--db`` names): ``create`` (jobs for the group in waves 1/10/50/100 %), the
sweeper's ``tick`` and ``ota/offer`` outbox drain (500 offers per sweep, as the bridge does), and the
bridge's per-flush job evidence (``observe``, 1,000 messages per flush: each device reports
downloading, installing, rebooting, then hello of the new version, a heartbeat and a telemetry batch
of the new boot). No broker: MQTT publishing is not counted. Queries are counted with a SQLAlchemy
``before_cursor_execute`` listener (an executemany counts once).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import event, insert  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from cloud.core.db import make_engine, migrate  # noqa: E402
from cloud.core.types import utcnow  # noqa: E402
from cloud.ingest.store import Batch  # noqa: E402
from cloud.registry.models import Device  # noqa: E402
from cloud.releases.models import Release  # noqa: E402
from cloud.rollouts import service  # noqa: E402
from cloud.rollouts.models import DeploymentCreate, Job  # noqa: E402
from protocol.codec import make  # noqa: E402


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, *_a: object) -> None:
        self.n += 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--db", default=None, help="PostgreSQL admin URL; a new database is made there")
    args = ap.parse_args()
    cleanup = None
    if args.db:
        from tests.services import PostgresServer

        server = PostgresServer(args.db)
        name = f"bench_rollout_{uuid.uuid4().hex[:8]}"
        url = server.create_database(name)
        cleanup = lambda: server.drop_database(name)  # noqa: E731
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    engine = make_engine(url)
    migrate(engine)
    now = utcnow()
    n = args.devices
    with Session(engine) as s:
        s.execute(
            insert(Device),
            [
                {
                    "id": f"bench-{i:05d}",
                    "hardware": "esp32",
                    "firmware_version": "1",
                    "boot": "0000aaaa",
                    "labels": {},
                    "sleep_schedule": [],
                    "capabilities": [],
                    "health": {},
                    "created_at": now,
                }
                for i in range(n)
            ],
        )
        s.add(
            Release(
                id=1,
                version=2,
                hardware="esp32",
                model="m",
                length=1,
                sha256="0" * 64,
                expires=now + timedelta(days=30),
                document=b"{}",
                state="ready",
                artifact_key="k",
                created_at=now,
            )
        )
        s.commit()

    counter = Counter()
    event.listen(engine, "before_cursor_execute", counter)
    phases: dict[str, list[float]] = {}

    def phase(name: str, fn):  # type: ignore[no-untyped-def]
        q0, t0 = counter.n, time.perf_counter()
        out = fn()
        p = phases.setdefault(name, [0.0, 0])
        p[0] += time.perf_counter() - t0
        p[1] += counter.n - q0
        return out

    def create() -> int:
        with Session(engine) as s:
            d = service.create(
                s, data=DeploymentCreate(name="bench", release_id=1, soak_s=0), base_url="http://x", now=now
            )
            service.tick(s, d, now)
            s.commit()
            return d.id  # type: ignore[return-value]

    dep_id = phase("create + first tick", create)

    def drain() -> int:
        total = 0
        while True:
            with Session(engine) as s:
                offers = service.offers_due(s, now=now)
                service.mark_offers(s, [(j, st) for j, st, _, _ in offers])
                s.commit()
            total += len(offers)
            if not offers:
                return total

    def sweep() -> None:
        with Session(engine) as s:
            service.tick_due(s, now)
            s.commit()

    offers = 0
    for _wave in range(4):
        offers += phase("offer outbox (publish + withdraw)", drain)
        with Session(engine) as s:
            jobs = [
                (j.id, j.device_id)
                for j in s.exec(
                    select(Job).where(
                        Job.deployment_id == dep_id, Job.offer_state == "published", Job.state == "queued"
                    )
                )
            ]
        msgs, batches = [], []
        for job_id, dev in jobs:
            for k, state in enumerate(("downloading", "installing", "rebooting")):
                msgs.append(
                    make("ota_status", dev, "0000aaaa", 10 + k, 0, {"job": f"j{job_id}", "state": state})
                )
            msgs.append(
                make(
                    "hello", dev, "0000bbbb", 0, 0, {"hw": "esp32", "fw": "2", "heartbeat_s": 60, "caps": []}
                )
            )
            msgs.append(make("heartbeat", dev, "0000bbbb", 1, 0, {"uptime_s": 1, "interval_s": 60}))
            msgs.append(
                make("ota_status", dev, "0000bbbb", 2, 0, {"job": f"j{job_id}", "state": "succeeded"})
            )
            batches.append(Batch(dev, "0000bbbb", 0, 2, 0, []))

        def evidence(msgs: list = msgs, batches: list = batches) -> None:  # type: ignore[type-arg]
            per = 1000
            for start in range(0, max(len(msgs), 1), per):
                chunk = msgs[start : start + per]
                devs = {m.device for m in chunk}
                with Session(engine) as s:
                    service.observe(s, chunk, [b for b in batches if b.device_id in devs], now=now)
                    s.commit()

        phase("job evidence (bridge flushes)", evidence)
        phase("sweeper ticks", sweep)
    with Session(engine) as s:
        d = service.get(s, dep_id)
        state, reason = d.state, d.state_reason
    print(
        f"{n} devices, waves {[1, 10, 50, 100]}, database {engine.dialect.name}; deployment {state}: {reason}"
    )
    print(f"ota/offer messages (offers and withdrawals of ended jobs): {offers}")
    total_t = sum(p[0] for p in phases.values())
    total_q = sum(p[1] for p in phases.values())
    for name, (t, q) in phases.items():
        print(f"  {name:32s} {t:8.2f} s  {q:7d} queries")
    print(f"  {'total':32s} {total_t:8.2f} s  {total_q:7d} queries  ({total_q / n:.2f} per device)")
    engine.dispose()
    if cleanup:
        cleanup()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
