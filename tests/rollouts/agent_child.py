"""A Pi agent's OTA side in a child process, so a test can cut its power (SIGKILL) at any step.

    python agent_child.py ROOT TRUSTED_ROOT OFFER_JSON|- KILL_AT SELF_TEST(ok|fail) REPORTS

With an offer it takes it; then (as after the restart systemd would do) it runs the start-up check
and the self-test. Reports go to REPORTS as JSON lines (the ota/status bodies it would publish).
"""

import json
import os
import signal
import sys
from pathlib import Path

from edge_agent.ota.updater import Updater

root, trusted, offer, kill_at, self_test, reports = sys.argv[1:7]


def report(job: str, state: str, **extra: object) -> None:
    with open(reports, "a") as f:
        f.write(json.dumps({"job": job, "state": state, **extra}) + "\n")


def checkpoint(name: str) -> None:
    if name == kill_at or (
        kill_at.startswith("chunk:") and name.startswith("chunk:") and int(name[6:]) >= int(kill_at[6:])
    ):
        os.kill(os.getpid(), signal.SIGKILL)


u = Updater(
    Path(root),
    trusted_root=Path(trusted).read_bytes(),
    hardware="rpi",
    model="pi4",
    report=report,
    checkpoint=checkpoint,
    self_test_s=30,
)
print(u.start(lambda deadline: self_test == "ok"), flush=True)  # every start begins here
if offer != "-":
    state = u.take(json.loads(offer))
    print(state, flush=True)
    if state == "rebooting":
        print(u.start(lambda deadline: self_test == "ok"), flush=True)  # the restart
