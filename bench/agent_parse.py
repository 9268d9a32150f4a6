"""Benchmark: frames/s the edge agent parses, hashes and queues from the real Brno captures.

What one "frame" costs here is the agent's whole capture path: read from the capture file, radiotap
+ 802.11 probe-request parse, privacy hash, RSSI floor, batching, protocol encode (with validation),
and a durable SQLite outbox append (WAL, synchronous=FULL) per batch. Beside it, in the same run and
on the same (pinned) core, ``tshark -r`` reads the same file and prints the same fields, as the
yardstick of a C dissector. Both read one file made of the two days' frames repeated, so process
start-up does not dominate. Prints medians of 3, peak RSS of each, and the ratio.

    python bench/agent_parse.py [--repeat 20] [--batch 100]

Targets (issue 4): >= 20,000 frames/s and < 80 MB RSS on a Pi 3 class budget.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_agent.envelopes import Envelopes  # noqa: E402
from edge_agent.gps import Track  # noqa: E402
from edge_agent.observations import Batch, Observer  # noqa: E402
from edge_agent.outbox import Outbox  # noqa: E402
from edge_agent.privacy import Keyring  # noqa: E402
from edge_agent.sources.pcapfile import LINKTYPE_IEEE802_11_RADIOTAP, read_capture  # noqa: E402
from edge_agent.sources.wifi import parse_probe  # noqa: E402

DATASET = (
    Path(os.environ.get("MOBILYTICS_SHARED", ROOT.parent / "shared")) / "datasets" / "probe-requests-brno"
)


def build_capture(path: Path, repeat: int) -> int:
    """One pcap holding both days' frames ``repeat`` times; returns the frame count."""
    frames = [f for day in ("2022-11-24", "2023-02-23") for f in read_capture(DATASET / f"{day}.pcap")]
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_IEEE802_11_RADIOTAP))
        for _ in range(repeat):
            for f in frames:
                sec, ns = divmod(f.ts_ns, 1_000_000_000)
                out.write(struct.pack("<IIII", sec, ns // 1000, len(f.data), f.orig_len) + f.data)
    return len(frames) * repeat


def agent_pass(capture: Path, workdir: Path, batch_size: int) -> tuple[int, int, float]:
    """(frames, observations queued, seconds) for the agent's capture path over ``capture``."""
    db = workdir / f"outbox-{time.monotonic_ns()}.sqlite"
    outbox = Outbox(db, max_bytes=1 << 30)
    observer = Observer(Keyring(bytes(range(32))), rssi_floor=-127)
    envelopes = Envelopes("rpi-bench-1")
    track = Track()
    batch = Batch()
    frames = queued = 0

    def flush(b: Batch) -> None:
        body = b.body(track, 10_000)
        outbox.append(len(b), lambda n: envelopes.encode("telemetry", {"batch": n, **body}), 0)

    started = time.perf_counter()
    for frame in read_capture(capture):
        frames += 1
        obs = observer.observe(parse_probe(frame).sighting())
        if obs is None:
            continue
        if not batch.accepts(obs):
            flush(batch)
            batch = Batch()
        batch.add(obs, 0.0)
        queued += 1
        if len(batch) >= batch_size:
            flush(batch)
            batch = Batch()
    if len(batch):
        flush(batch)
    elapsed = time.perf_counter() - started
    outbox.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return frames, queued, elapsed


def tshark_pass(capture: Path) -> tuple[float, int]:
    """(seconds, peak RSS KiB) of tshark reading the file and printing src, RSSI, seq, frequency."""
    cmd = ["tshark", "-r", str(capture), "-T", "fields", "-e", "wlan.sa", "-e", "radiotap.dbm_antsignal",
           "-e", "wlan.seq", "-e", "radiotap.channel.freq"]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: os.sched_setaffinity(0, {0}))  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"tshark failed with status {status}")
    return elapsed, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="copies of the two days' frames in the file")
    parser.add_argument("--batch", type=int, default=100, help="observations per telemetry batch")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})  # one core, for the agent and for tshark alike
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        capture = workdir / "brno-repeated.pcap"
        total = build_capture(capture, args.repeat)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        agent_runs, tshark_runs, tshark_rss = [], [], []
        for _ in range(args.runs):
            frames, queued, seconds = agent_pass(capture, workdir, args.batch)
            assert frames == total
            agent_runs.append(frames / seconds)
            if shutil.which("tshark"):
                seconds, rss = tshark_pass(capture)
                tshark_runs.append(total / seconds)
                tshark_rss.append(rss)
        agent_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    agent_fps = statistics.median(agent_runs)
    print(f"capture: {total} real probe-request frames ({capture.name}, {args.repeat}x both Brno days)")
    print(
        f"agent  parse+hash+batch+encode+outbox: {agent_fps:>10,.0f} frames/s  (runs: "
        + ", ".join(f"{r:,.0f}" for r in agent_runs)
        + f"), queued {queued} obs in batches of {args.batch}"
    )
    print(f"agent  peak RSS: {agent_rss_mb:.1f} MB (before the runs: {rss_before / 1024:.1f} MB)")
    if tshark_runs:
        tshark_fps = statistics.median(tshark_runs)
        print(
            f"tshark -r -T fields (same file, same core): {tshark_fps:>10,.0f} frames/s  (runs: "
            + ", ".join(f"{r:,.0f}" for r in tshark_runs)
            + f"), peak RSS {max(tshark_rss) / 1024:.1f} MB"
        )
        print(f"ratio agent / tshark: {agent_fps / tshark_fps:.2f}")
    else:
        print("tshark not installed (apt-get install tshark): no comparison")
    verdict = "meets" if agent_fps >= 20_000 and agent_rss_mb < 80 else "MISSES"
    print(f"target >= 20,000 frames/s and < 80 MB: {verdict}")


if __name__ == "__main__":
    main()
