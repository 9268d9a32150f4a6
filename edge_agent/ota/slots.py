"""A/B install on the Pi: versioned release directories and an atomic symlink switch.

    <root>/releases/v<N>/artifact     one directory per installed version, written then renamed
    <root>/releases/v<N>/app/         the artifact unpacked, when it is a tar of the agent's code: the
                                      launcher (edge_agent/launcher.py) runs the agent from here
    <root>/current -> releases/v<N>   what the service runs (systemd starts <root>/current/...)
    <root>/good    -> releases/v<M>   the last version that passed its self-test
    <root>/pending.json               {"version", "job", "deadline", "boots"}: a switch not yet confirmed

A switch writes ``pending.json`` before it flips ``current``; every start calls ``boot_check``. A start
that finds a pending switch counts it; a second start with the switch still unconfirmed (the first
died or hung before confirming) or a start past the deadline returns ``current`` to ``good``. The only
writes are renames (``os.replace`` of a fresh symlink or file), so a power cut at any instant leaves
either the old or the new link, never a broken one.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _link(root: Path, name: str, target: str) -> None:
    tmp = root / f".{name}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, root / name)
    _fsync_dir(root)


def replace_file(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a temporary file, fsynced, renamed over it."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _unpack(directory: Path) -> None:
    """Unpack ``directory/artifact`` into ``directory/app`` when it is a tar (the agent's code)."""
    artifact = directory / "artifact"
    if tarfile.is_tarfile(artifact):
        with tarfile.open(artifact) as tar:
            tar.extractall(directory / "app", filter="data")  # no absolute paths, links out, devices


@dataclass(frozen=True, slots=True)
class BootOutcome:
    """What ``boot_check`` found: nothing pending, a switch to confirm, or a return to ``good``."""

    state: str  # "steady" | "confirming" | "rolled-back"
    version: int
    job: str | None = None
    reason: str | None = None
    deadline: float | None = None


class Slots:
    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def pending_path(self) -> Path:
        return self.root / "pending.json"

    def _version_of(self, name: str) -> int | None:
        try:
            target = os.readlink(self.root / name)
        except OSError:
            return None
        return int(Path(target).name.removeprefix("v"))

    def bootstrap(self, version: int, artifact: bytes) -> None:
        """A factory install: ``version`` as both current and good."""
        self.root.mkdir(parents=True, exist_ok=True)
        d = self.root / "releases" / f"v{version}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "artifact").write_bytes(artifact)
        _unpack(d)
        _link(self.root, "current", f"releases/v{version}")
        _link(self.root, "good", f"releases/v{version}")

    @property
    def current(self) -> int:
        v = self._version_of("current")
        assert v is not None, "no current release: bootstrap first"
        return v

    @property
    def good(self) -> int:
        v = self._version_of("good")
        assert v is not None
        return v

    def artifact(self, version: int) -> Path:
        return self.root / "releases" / f"v{version}" / "artifact"

    def app(self, version: int) -> Path | None:
        """The unpacked code of ``version``, if its artifact was a tar."""
        app = self.root / "releases" / f"v{version}" / "app"
        return app if app.is_dir() else None

    def version_of(self, path: Path) -> int | None:
        """The release whose directory holds ``path`` (e.g. the running code's file), else None."""
        try:
            relative = path.resolve().relative_to((self.root / "releases").resolve())
        except ValueError:
            return None
        name = relative.parts[0] if relative.parts else ""
        return int(name[1:]) if name[:1] == "v" and name[1:].isdigit() else None

    def install(self, version: int, artifact: Path) -> None:
        """Put a verified artifact in its own release directory (rename: all or nothing)."""
        releases = self.root / "releases"
        final = releases / f"v{version}"
        tmp = releases / f".v{version}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        shutil.copyfile(artifact, tmp / "artifact")
        with (tmp / "artifact").open("rb+") as f:
            os.fsync(f.fileno())
        _unpack(tmp)
        if final.exists() and version not in (self.current, self.good):
            shutil.rmtree(final)
        if not final.exists():
            os.replace(tmp, final)
        _fsync_dir(releases)

    def switch(self, version: int, *, job: str, deadline: float) -> None:
        """Record the unconfirmed switch, then point ``current`` at ``version``."""
        record = {"version": version, "job": job, "deadline": deadline, "boots": 0, "previous": self.good}
        replace_file(self.pending_path, json.dumps(record).encode())
        _link(self.root, "current", f"releases/v{version}")

    def pending(self) -> dict | None:
        try:
            return json.loads(self.pending_path.read_bytes())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    def boot_check(self, now: float) -> BootOutcome:
        """Called first at every start. Decides what this start runs (and says why)."""
        p = self.pending()
        if p is None:
            if self._version_of("current") != self.good:  # a half-done revert: finish it
                _link(self.root, "current", f"releases/v{self.good}")
            return BootOutcome("steady", self.good)
        if self.current != p["version"]:  # died between writing pending.json and the switch
            self.pending_path.unlink()
            return BootOutcome("rolled-back", self.good, p["job"], "power lost before the switch")
        if p["boots"] >= 1:
            return self.revert("the new version did not confirm before it restarted")
        if now > p["deadline"]:
            return self.revert("self-test deadline passed")
        p["boots"] += 1
        replace_file(self.pending_path, json.dumps(p).encode())
        return BootOutcome("confirming", p["version"], p["job"], deadline=p["deadline"])

    def confirm(self) -> None:
        """The self-test passed: the running version becomes the good one."""
        _link(self.root, "good", f"releases/v{self.current}")
        self.pending_path.unlink(missing_ok=True)
        _fsync_dir(self.root)

    def revert(self, reason: str) -> BootOutcome:
        p = self.pending() or {}
        _link(self.root, "current", f"releases/v{self.good}")
        self.pending_path.unlink(missing_ok=True)
        _fsync_dir(self.root)
        return BootOutcome("rolled-back", self.good, p.get("job"), reason)
