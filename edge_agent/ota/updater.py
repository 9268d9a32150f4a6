"""One OTA job on the Pi, from offer to committed version, as ota/status reports.

``Updater.take(offer)`` runs offered -> downloading -> verifying -> installing -> rebooting and ends
with the process asking for a restart (systemd restarts the service in ``current``); after the
restart ``Updater.start(self_test)`` runs ``Slots.boot_check`` and, if a switch is pending, the
self-test (connect, heartbeat, confirm) within its deadline: passed -> ``succeeded`` and ``good``
moves; failed or late -> ``current`` returns to ``good`` and the job reports ``rolled-back``.
Every refusal of the signed metadata (ota.exceptions) is ``failed`` with the typed error as reason,
and nothing on disk changes. ``checkpoint(name)`` is called between steps (tests kill the process
there to cut the power).

Before it verifies an offered release the updater follows the fleet's root rotations
(``ota.device.roots``): from the newest root it holds, the shipped one (``ota.trusted_root``) or
``<ota.root>/trusted-root.json``, it fetches root N+1, N+2, ... from beside the release's metadata
until a 404, each accepted by ``TrustedRoot.update`` and written atomically the moment it is, so a
restart keeps it and a key it rotated out stays refused. A root that does not chain fails the job
with its reason (VersionGap, ThresholdNotMet, ...) and the trusted root stays the last good one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from edge_agent.ota.fetch import download, get_document
from edge_agent.ota.slots import BootOutcome, Slots, replace_file
from ota.device.metadata import TrustedRoot, verify_release
from ota.device.roots import follow, newest, root_url
from ota.exceptions import OtaError
from ota.keys import verify as ed25519_verify

Report = Callable[..., None]


def _nothing(_name: str) -> None:
    return None


class Updater:
    def __init__(
        self,
        root: Path,
        *,
        trusted_root: bytes,
        hardware: str,
        model: str,
        report: Report,
        self_test_s: float = 120.0,
        checkpoint: Callable[[str], None] = _nothing,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.slots = Slots(root)
        self.root = root
        try:
            kept = self._root_path.read_bytes()
        except OSError:
            kept = None  # no rotation followed yet
        self.trusted = newest([trusted_root, kept], ed25519_verify)
        self.hardware = hardware
        self.model = model
        self.report = report
        self.self_test_s = self_test_s
        self.checkpoint = checkpoint
        self.clock = clock

    @property
    def _root_path(self) -> Path:
        return self.root / "trusted-root.json"

    def _keep_root(self, trusted: TrustedRoot, data: bytes) -> None:
        replace_file(self._root_path, data)
        self.trusted = trusted

    @property
    def _done_path(self) -> Path:
        return self.root / "jobs-done.json"

    def _done(self) -> list[str]:
        try:
            return json.loads(self._done_path.read_bytes())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return []

    def _finish(self, job: str, state: str, **extra: object) -> str:
        done = [*self._done()[-50:], job]
        self._done_path.write_text(json.dumps(done))
        self.report(job, state, **extra)
        return state

    def take(self, offer: dict) -> str:
        """Act on an offer (at most once per job); the state it ended in ("rebooting" = restart now)."""
        job = offer["job"]
        pending = self.slots.pending()
        if job in self._done() or (pending is not None and pending["job"] == job):
            return "ignored"  # finished, or installed and awaiting its self-test (the offer is retained)
        self.report(job, "offered")
        try:  # _keep_root moves self.trusted root by root: a refusal leaves it on the last good one
            follow(
                self.trusted,
                lambda version: get_document(root_url(offer["metadata"], version), missing_ok=True),
                self._keep_root,
            )
        except OtaError as e:
            return self._finish(job, "failed", reason=f"{type(e).__name__}: {e}"[:200])
        except OSError as e:
            return self._finish(job, "failed", reason=f"roots unavailable: {e}"[:200])
        try:
            document = get_document(offer["metadata"])
            release = verify_release(
                self.trusted,
                document,
                now=int(self.clock()),
                installed_version=self.slots.current,
                hardware=self.hardware,
                model=self.model,
            )
        except OtaError as e:
            return self._finish(job, "failed", reason=f"{type(e).__name__}: {e}"[:200])
        except OSError as e:
            return self._finish(job, "failed", reason=f"metadata unavailable: {e}"[:200])
        (self.root / "download").mkdir(exist_ok=True)
        part = self.root / "download" / f"{release.sha256}.part"
        journal = self.root / "download" / f"{release.sha256}.journal"
        self.report(job, "downloading", progress=0)
        self.checkpoint("downloading")
        try:
            download(
                offer["url"],
                release,
                part,
                journal,
                on_chunk=lambda n: self.checkpoint(f"chunk:{n}"),
            )
        except OtaError as e:
            return self._finish(job, "failed", reason=f"{type(e).__name__}: {e}"[:200])
        self.report(job, "verifying", progress=100)
        self.checkpoint("verifying")
        self.report(job, "installing")
        self.slots.install(release.version, part)
        part.unlink(missing_ok=True)
        self.checkpoint("installed")
        self.slots.switch(release.version, job=job, deadline=self.clock() + self.self_test_s)
        self.checkpoint("switched")
        self.report(job, "rebooting")
        return "rebooting"

    def boot(self) -> BootOutcome:
        """First thing at every start: ``Slots.boot_check``, reporting a return to ``good``."""
        outcome = self.slots.boot_check(self.clock())
        if outcome.state == "rolled-back" and outcome.job:
            self._finish(outcome.job, "rolled-back", reason=outcome.reason)
        return outcome

    def conclude(self, job: str, deadline: float, passed: bool) -> str:
        """The self-test's verdict: ``succeeded`` (``good`` moves) or ``rolled-back`` (``current``
        returns to ``good``; the caller restarts into it). Passing after ``deadline`` is failing."""
        if passed and self.clock() <= deadline:
            self.slots.confirm()
            return self._finish(job, "succeeded")
        back = self.slots.revert("self-test failed" if passed is False else "self-test deadline passed")
        return self._finish(job, "rolled-back", reason=back.reason)

    def start(self, self_test: Callable[[float], bool]) -> str:
        """At every start: what the boot check found, then the self-test of a pending switch.

        ``self_test(deadline)`` returns whether the new version connected, heartbeated and was
        confirmed before ``deadline`` (Unix seconds)."""
        outcome = self.boot()
        if outcome.state != "confirming":
            return outcome.state
        assert outcome.job is not None
        assert outcome.deadline is not None
        self.report(outcome.job, "confirming")
        self.checkpoint("confirming")
        return self.conclude(outcome.job, outcome.deadline, self_test(outcome.deadline))
