"""Ingest benchmark: simulated devices -> real broker -> the cloud process -> the database.

    python bench/ingest.py                       # Mosquitto + PostgreSQL (production path)
    python bench/ingest.py --embedded            # `mobilytics up` with its embedded amqtt + SQLite

What it does, all on loopback and bounded in count and time:

1. starts the broker (Mosquitto from the config the cloud generates) and a fresh database;
2. starts the cloud as its own process (`mobilytics up`), so its peak RSS can be read;
3. one `mosquitto_pub` per device (C; paho publishers took a fifth of the CPU of a run, on the
   same 2 cores as the cloud) sends that device's pre-encoded telemetry batches of `--obs`
   observations at QoS 1, in order, for `--devices` devices; their CPU is printed;
4. the clock stops when the database holds every batch; observations/s end-to-end is the figure;
5. in the same run, the same rows are written by a bare COPY (PostgreSQL; executemany in one
   transaction on SQLite) into the same table, and a sample the legacy way (one ORM INSERT and
   commit per row): the two ratios.

It prints figures; nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import getpass
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import Connection

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cloud.broker.mosquitto import MosquittoConfig  # noqa: E402
from cloud.broker.ports import free_port  # noqa: E402
from cloud.core.db import make_engine, migrate  # noqa: E402
from cloud.ingest.models import observation  # noqa: E402
from cloud.ingest.rows import ObsRow  # noqa: E402
from cloud.ingest.store import Batch, observation_rows, prepare_copy, write_observations  # noqa: E402
from protocol.codec import encode, make  # noqa: E402

PG_ADMIN = os.environ.get("MOBILYTICS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
T0 = 1_767_225_600_000


def device_id(i: int) -> str:
    return f"bench-{i:04d}"


def batch_rows(dev: str, n: int, obs: int) -> list[list[object]]:
    return [
        [
            (n * 7 + k) % 1000,
            "w" if k % 3 else "b",
            f"{(n * obs + k) & 0xFFFFFFFFFFFFFFFF:016x}",
            -40 - k % 50,
            k & 3,
            49_195_000 + k,
            16_608_000 - k,
        ]
        for k in range(obs)
    ]


def payloads(devices: range, batches: int, obs: int) -> list[tuple[str, bytes]]:
    boot = "b0b0b0b0"
    out = []
    for n in range(batches):
        for i in devices:
            dev = device_id(i)
            body = {"batch": n, "t0": T0 + n * 1000, "obs": batch_rows(dev, n, obs)}
            out.append(
                (f"mob/v1/{dev}/telemetry", encode(make("telemetry", dev, boot, n, T0 + n * 1000, body)))
            )
    return out


def publisher_lines(work: Path, dev: int, batches: int, obs: int) -> Path:
    """One device's telemetry batches, encoded before the clock starts, one message per line."""
    path = work / f"{device_id(dev)}.jsonl"
    path.write_bytes(b"".join(p + b"\n" for _, p in payloads(range(dev, dev + 1), batches, obs)))
    return path


def publish(host: str, port: int, dev: int, lines: Path) -> subprocess.Popen[bytes]:
    """mosquitto_pub (C, libmosquitto) sending a device's lines at QoS 1, in order: the load generator
    should leave the 2 cores to the cloud, the broker and the database (paho publishers took a
    fifth of the CPU of a run)."""
    tool = shutil.which("mosquitto_pub")
    if tool is None:
        raise SystemExit("bench/ingest.py needs mosquitto_pub (Debian: mosquitto-clients)")
    argv = [tool, "-h", host, "-p", str(port), "-q", "1", "-i", f"bench-pub-{dev}", "-l"]
    argv += ["-t", f"mob/v1/{device_id(dev)}/telemetry"]
    with lines.open("rb") as stdin:
        return subprocess.Popen(argv, stdin=stdin)


def reap(procs: list[subprocess.Popen[bytes]], timeout: float) -> float:
    """Wait for the publishers; the CPU seconds (user + system) they used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for p in procs:
        p.wait(timeout=timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def stored_batches(conn: Connection) -> int:
    """Batches committed so far (one open connection: a new one per poll costs the database a fork)."""
    count = conn.exec_driver_sql("SELECT coalesce(sum(received), 0) FROM telemetry_stream").scalar_one()
    conn.rollback()  # a fresh snapshot for the next poll
    return int(count)


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu_seconds(db_name: str | None) -> float:
    """CPU so far of the PostgreSQL backends connected to the bench's database (0 on SQLite)."""
    if db_name is None:
        return 0.0
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (db_name,))]
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (FileNotFoundError, PermissionError):  # gone, or another user's: not counted
            continue
    return total


def cpu_ticks() -> tuple[int, int]:
    """(all, stolen) CPU ticks of the machine so far (/proc/stat): a VM's neighbours take the steal."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields[:8]), fields[7]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rows_of(dev: str, n: int, obs: int) -> list[ObsRow]:
    return [ObsRow(*r) for r in batch_rows(dev, n, obs)]


def bare_copy_rate(url: str, devices: int, batches: int, obs: int, runs: int) -> tuple[float, int]:
    """The same rows, written by the store's own fast path in one transaction: on PostgreSQL
    formatted as the bridge does (`prepare_copy`, timed) and sent in one binary COPY; executemany on
    SQLite. The best of `runs` (it varies from run to run on this VM, and a slow baseline would
    flatter the ratio)."""
    engine = make_engine(url)
    bs = [
        Batch(device_id(i), "c0c0c0c0", n, n, T0 + n * 1000, rows_of(device_id(i), n, obs))
        for n in range(batches)
        for i in range(devices)
    ]
    pg = engine.dialect.name == "postgresql"
    try:
        if pg:
            settle(url)
        best = 0.0
        for _ in range(runs):
            started = time.perf_counter()
            with engine.begin() as conn:
                rows = write_observations(conn, prepare_copy(bs) if pg else bs)
            best = max(best, rows / (time.perf_counter() - started))
        return best, rows
    finally:
        engine.dispose()


def settle(url: str) -> None:
    """Let PostgreSQL finish with the end-to-end run's rows before the baseline, so that the bare
    COPY does not share the server with an autovacuum of them (1.2 M fresh rows pass its insert
    threshold) or a checkpoint: a baseline slowed by them would flatter the ratio."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("VACUUM observation")  # waits out (or replaces) an autovacuum of the table
        conn.execute("CHECKPOINT")


def legacy_rate(url: str, rows: int) -> float:
    """The legacy way: one ORM INSERT and one COMMIT per row."""
    from sqlalchemy.orm import DeclarativeBase, Session

    class Base(DeclarativeBase):
        pass

    class ObservationRow(Base):
        __table__ = observation
        __mapper_args__ = {  # noqa: RUF012
            "primary_key": [
                observation.c.device_id,
                observation.c.boot,
                observation.c.batch,
                observation.c.ts_ms,
                observation.c.hid,
            ]
        }

    engine = make_engine(url)
    b = Batch("legacy-0001", "d0d0d0d0", 0, 0, T0, rows_of("legacy-0001", 0, rows))
    try:
        started = time.perf_counter()
        with Session(engine) as session:
            for r in observation_rows(b):
                session.add(
                    ObservationRow(**dict(zip([c.name for c in observation.columns], r, strict=True)))
                )
                session.commit()
        return rows / (time.perf_counter() - started)
    finally:
        engine.dispose()


def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="mob-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    db_name = None
    try:
        api_port = free_port()
        if args.embedded:
            mqtt_port = free_port()
            url = f"sqlite:///{work / 'bench.sqlite3'}"
            cmd = ["up", "--port", str(api_port), "--mqtt-port", str(mqtt_port), "--db", url]
            label = "embedded default: amqtt (in the cloud process) + SQLite"
        else:
            mqtt_port = free_port()
            conf = MosquittoConfig(port=mqtt_port, data_dir=work / "mosquitto", user=getpass.getuser())
            conf.write(work / "mosquitto.conf")
            mosq = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
            log = (work / "mosquitto.log").open("ab")
            procs.append(subprocess.Popen([mosq, "-c", str(work / "mosquitto.conf")], stdout=log, stderr=log))
            db_name = f"mob_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{db_name}"')
            url = PG_ADMIN.rsplit("/", 1)[0] + f"/{db_name}"
            cmd = ["up", "--port", str(api_port), "--broker", f"mqtt://127.0.0.1:{mqtt_port}", "--db", url]
            label = "Mosquitto + PostgreSQL"
        migrate(make_engine(url))
        cloud_log = (work / "cloud.log").open("ab")
        cloud = subprocess.Popen(
            [sys.executable, "-m", "cloud", *cmd],
            cwd=REPO,
            stdout=cloud_log,
            stderr=cloud_log,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        procs.append(cloud)
        wait_http(f"http://127.0.0.1:{api_port}/health")
        time.sleep(1.0)  # the bridge subscribes right after the API answers

        total_batches = args.devices * args.batches
        total_obs = total_batches * args.obs
        lines = [publisher_lines(work, i, args.batches, args.obs) for i in range(args.devices)]
        poll_engine = make_engine(url)
        load_before = os.getloadavg()[0]
        cloud_cpu = cpu_seconds(cloud.pid)
        db_cpu = backend_cpu_seconds(db_name)
        broker = None if args.embedded else procs[0]  # the embedded broker runs inside the cloud
        broker_cpu = cpu_seconds(broker.pid) if broker else 0.0
        ticks = cpu_ticks()
        started = time.perf_counter()
        pubs = [publish("127.0.0.1", mqtt_port, i, path) for i, path in enumerate(lines)]
        deadline = time.monotonic() + args.timeout
        stored = 0
        with poll_engine.connect() as poll:
            while stored < total_batches and time.monotonic() < deadline:
                time.sleep(0.02)
                stored = stored_batches(poll)
        elapsed = time.perf_counter() - started
        cloud_cpu = cpu_seconds(cloud.pid) - cloud_cpu
        db_cpu = backend_cpu_seconds(db_name) - db_cpu
        broker_cpu = cpu_seconds(broker.pid) - broker_cpu if broker else 0.0
        all_ticks, stolen = (b - a for a, b in zip(ticks, cpu_ticks(), strict=True))
        poll_engine.dispose()
        pub_cpu = reap(pubs, timeout=30)
        rss = peak_rss_mb(cloud.pid)
        cloud.send_signal(signal.SIGTERM)
        cloud.wait(timeout=30)
        e2e = stored * args.obs / elapsed

        copy_rate, copy_rows = bare_copy_rate(url, args.devices, args.batches, args.obs, args.copy_runs)
        legacy = legacy_rate(url, args.legacy_rows)
        print(f"== ingest benchmark: {label}")
        print(
            f"   {args.devices} devices x {args.batches} batches x {args.obs} obs = {total_obs:,} obs, "
            f"one mosquitto_pub per device, QoS 1"
        )
        print(
            f"   stored {stored:,}/{total_batches:,} batches in {elapsed:.2f} s"
            + ("" if stored == total_batches else "  (TIMED OUT)")
        )
        print(f"   end-to-end into the database : {e2e:>12,.0f} obs/s")
        what = "bare COPY" if not args.embedded else "bare executemany"  # binary; one transaction
        what += f", best of {args.copy_runs}"
        print(f"   {what:<29}: {copy_rate:>12,.0f} rows/s ({copy_rows:,} rows)   ratio {e2e / copy_rate:.0%}")
        print(
            f"   legacy ORM INSERT+COMMIT/row : {legacy:>12,.0f} rows/s ({args.legacy_rows:,} rows)   "
            f"ratio {e2e / legacy:,.0f}x"
        )
        print(f"   cloud process peak RSS       : {rss:>12,.0f} MB")
        print(
            f"   CPU while the clock ran      : cloud {cloud_cpu:.1f} s, publishers {pub_cpu:.1f} s"
            + (f", Mosquitto {broker_cpu:.1f} s, database backends {db_cpu:.1f} s" if db_name else "")
            + f" in {elapsed:.1f} s on {os.cpu_count()} cores"
        )
        print(
            f"   machine                      : load average {load_before:.2f} at the start (other work "
            f"shares the cores), {stolen / max(all_ticks, 1):.0%} of CPU time stolen by the hypervisor"
        )
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
        if db_name is not None:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"   work dir kept: {work}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--embedded", action="store_true", help="amqtt + SQLite inside `mobilytics up`")
    ap.add_argument("--devices", type=int, default=20)
    # 300: 1.2 M observations, ~2 s of ingest. At 100 (0.8 s) the cold first flush and the last one
    # (written after every message is in) are a third of the run, and the ratio swings by +-5 points.
    ap.add_argument("--batches", type=int, default=300, help="batches per device")
    ap.add_argument("--obs", type=int, default=200, help="observations per batch (protocol max 500)")
    ap.add_argument("--copy-runs", type=int, default=3, help="bare COPY repetitions (the best counts)")
    ap.add_argument("--legacy-rows", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    run(ap.parse_args())


if __name__ == "__main__":
    main()
