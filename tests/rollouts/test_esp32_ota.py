"""Fault injection on the ESP32 firmware's OTA, the way test_agent_ota.py does it for the Pi.

The real firmware bundles (v1 at the factory, v2, and a v3 whose telemetry never goes out) run
under the real micropython through firmware/host/launcher.py: its bootloader step and the
esp32.Partition stand-in (flash erase semantics, ESP-IDF otadata states) decide which slot boots.
Every boot runs in the launcher's 100K heap, the new image's first boot (app and self-test) too.
Offers arrive on a real Mosquitto as
retained ``ota/offer``; the signed metadata and the artifact come from a real HTTP server with
Range; the power is cut (SIGKILL) at named flash operations (``Board.pause_at``). In every case
the board ends on a valid signed version, reconnects, and the job's last ``ota/status`` is right.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import Session, select

from cloud.registry.models import Device as RegistryDevice
from cloud.rollouts.models import Deployment, Job
from firmware import build
from firmware.host.launcher import Board
from protocol import topics
from tests.cloud.conftest import Cloud
from tests.firmware.boards import FAST, make_board
from tests.firmware.observer import Observer, observing
from tests.rollouts.conftest import Api, Files, Fleet, deploy, rotate
from tests.services import MosquittoProcess

pytestmark = pytest.mark.micropython

MODEL = "esp32-wroom"
SELF_TEST_S = 12
# The bug of the failing release: closed batches stay in the outbox, telemetry never goes out.
NO_TELEMETRY = ("item = self.outbox.peek(self._out)", "item = None")
FINAL = ("succeeded", "failed", "rolled-back")


def variant(out: Path, fleet: Fleet, version: int, *, broken: bool = False) -> Path:
    """A bundle of this firmware as version ``version`` trusting ``fleet``'s root."""
    src = out / "src"
    shutil.copytree(build.SRC, src)
    (src / "version.py").write_text(f'VERSION = "{version}"\n')
    if broken:
        app = (src / "app.py").read_text()
        assert NO_TELEMETRY[0] in app
        (src / "app.py").write_text(app.replace(*NO_TELEMETRY))
    build.build(out / "bundle", src=src, ota_root=fleet.root_document)
    return out / "bundle"


@dataclass(frozen=True)
class Firmware:
    factory: Path  # v1's bundle, flashed into ota_0
    images: dict[str, bytes]  # "2", "3-broken": slot images (release artifacts)


@pytest.fixture(scope="session")
def firmware(tmp_path_factory: pytest.TempPathFactory, fleet: Fleet) -> Firmware:
    d = tmp_path_factory.mktemp("esp32-fw")
    factory = variant(d / "v1", fleet, 1)
    images = {
        "2": build.image(variant(d / "v2", fleet, 2)),
        "3-broken": build.image(variant(d / "v3", fleet, 3, broken=True)),
    }
    return Firmware(factory, images)


@pytest.fixture
def esp(
    tmp_path: Path, firmware: Firmware, mosquitto_broker: MosquittoProcess, micropython: str
) -> Iterator[Board]:
    b = make_board(
        tmp_path,
        firmware.factory,
        mosquitto_broker,
        micropython,
        ota={"model": MODEL, "self_test_s": SELF_TEST_S},
    )
    yield b
    b.stop()
    print((tmp_path / "firmware.log").read_text()[-4000:])


def offer(http: Files, fleet: Fleet, job: str, artifact: bytes, version: int = 2, **kw: object) -> dict:
    """Put a release on the server (``served`` bytes instead of the artifact, ``document`` instead
    of a good signature); the ota_offer body pointing at it."""
    served = kw.pop("served", artifact)
    model = kw.pop("model", MODEL)
    document = kw.pop("document", None) or fleet.release(artifact, version=version, model=model, **kw)  # type: ignore[arg-type]
    base = f"http://127.0.0.1:{http.server_address[1]}/{job}"
    http.files[f"/{job}/artifact"] = served  # type: ignore[assignment]
    http.files[f"/{job}/metadata"] = document  # type: ignore[assignment]
    return {
        "job": job,
        "version": str(version),
        "url": f"{base}/artifact",
        "sha256": hashlib.sha256(artifact).hexdigest(),
        "length": len(artifact),
        "metadata": f"{base}/metadata",
    }


def statuses(obs: Observer, job: str) -> list:
    return [m for m in obs.of(topics.OTA_STATUS) if m.body["job"] == job]


async def run_job(obs: Observer, body: dict, *, within: float = 120) -> list:
    """Offer ``body`` (retained, as the cloud does) until the job's final status; its statuses."""
    await obs.publish(topics.OTA_OFFER, body, retain=True)
    await obs.wait_for(
        lambda: any(m.body["state"] in FINAL for m in statuses(obs, body["job"])),
        within,
        f"the final status of {body['job']}",
    )
    return statuses(obs, body["job"])


def otadata(board: Board) -> dict:
    return json.loads((board.flash / ".host" / "otadata.json").read_text())


async def ends_on(obs: Observer, board: Board, version: int, after: list) -> None:
    """The board runs ``version`` from a valid slot and is back online: a hello and a heartbeat of
    a boot that sent (or followed) the job's final status."""
    final = after[-1]

    def back() -> bool:
        hellos = [h for h in obs.of(topics.HELLO) if h.boot == final.boot or h.ts >= final.ts]
        return any(
            h.body["fw"] == str(version) and any(b.boot == h.boot for b in obs.of(topics.HEARTBEAT))
            for h in hellos
        )

    await obs.wait_for(back, 60, f"version {version} back online")
    d = otadata(board)
    assert d["state"][d["running"]] == "valid", d


async def start(board: Board, obs: Observer) -> None:
    await obs.publish(topics.CONFIG_DESIRED, {"version": 1, "config": FAST}, retain=True)
    board.start()
    await obs.wait_for(lambda: obs.of(topics.HEARTBEAT), 60, "the factory firmware online")


async def test_refused_releases_fail_with_their_reason_and_leave_the_board_on_its_version(
    esp: Board, mosquitto_broker: MosquittoProcess, http: Files, fleet: Fleet, firmware: Firmware
) -> None:
    v2 = firmware.images["2"]
    flipped = bytearray(v2)
    flipped[len(v2) // 2] ^= 1
    good = fleet.release(v2, version=2, model=MODEL)
    signed = json.loads(good)
    signed["signatures"][0]["sig"] = "00" * 64  # a release key's signature that does not verify
    cases = [
        ("bad-signature", {"document": json.dumps(signed).encode()}, "BadSignature"),
        ("below-threshold", {"keys": fleet.release_keys[:1]}, "ThresholdNotMet"),
        ("expired", {"expires": int(time.time()) - 60}, "Expired"),
        ("older", {"version": 1}, "Rollback"),
        ("wrong-hardware", {"hardware": "rpi"}, "WrongTarget"),
        ("wrong-model", {"model": "esp32-s3"}, "WrongTarget"),
        ("corrupted-byte", {"served": bytes(flipped)}, "HashMismatch"),
        ("truncated", {"served": v2[:-1000]}, "LengthMismatch"),
    ]
    async with observing(mosquitto_broker.host, mosquitto_broker.port, esp.device) as obs:  # type: ignore[attr-defined]
        await start(esp, obs)
        for job, kw, error in cases:
            got = await run_job(obs, offer(http, fleet, job, v2, **kw))
            states = [m.body["state"] for m in got]
            assert states == ["offered", "failed"], (job, states)
            assert got[-1].body["reason"].startswith(error), (job, got[-1].body)
            await ends_on(obs, esp, 1, got)
        assert otadata(esp)["running"] == "ota_0"
        # Each job was acted on once although its retained offer came back at every boot.
        offered = [m.body["job"] for m in obs.of(topics.OTA_STATUS) if m.body["state"] == "offered"]
        assert offered == [job for job, _, _ in cases]


async def test_a_board_shipped_with_root_v1_follows_a_rotation_and_refuses_the_revoked_keys(
    esp: Board, mosquitto_broker: MosquittoProcess, http: Files, fleet: Fleet, firmware: Firmware
) -> None:
    """Roots a board cannot accept leave it on its version and its root; the rotation published
    beside the release is followed, kept in flash, and outlives the server's copy."""
    v2 = firmware.images["2"]
    rotation = rotate(fleet.root_keys)
    refused = [
        ("forged-root", rotate(fleet.root_keys, forged=True), "ThresholdNotMet"),
        ("skipping-root", rotate(fleet.root_keys, version=3), "VersionGap"),
    ]
    async with observing(mosquitto_broker.host, mosquitto_broker.port, esp.device) as obs:  # type: ignore[attr-defined]
        await start(esp, obs)
        for job, bad, error in refused:
            http.files["/roots/2.json"] = bad.document
            got = await run_job(obs, offer(http, fleet, job, v2, keys=bad.release_keys))
            assert [m.body["state"] for m in got] == ["offered", "failed"], (job, got[-1].body)
            assert got[-1].body["reason"].startswith(error), (job, got[-1].body)
            await ends_on(obs, esp, 1, got)
        # Had either bad root been kept, root v2 would be a Rollback or its keys the wrong ones.
        http.files["/roots/2.json"] = rotation.document
        got = await run_job(obs, offer(http, fleet, "j-rotated", v2, keys=rotation.release_keys))
        assert [m.body["state"] for m in got][-1] == "succeeded", got[-1].body
        await ends_on(obs, esp, 2, got)
        # The server forgets the rotation; the board does not: the rotated-out keys stay refused.
        del http.files["/roots/2.json"]
        got = await run_job(obs, offer(http, fleet, "j-revoked", firmware.images["3-broken"], version=3))
        assert [m.body["state"] for m in got] == ["offered", "failed"], got[-1].body
        assert got[-1].body["reason"].startswith("ThresholdNotMet"), got[-1].body
        assert "release role of root v2" in got[-1].body["reason"]
        await ends_on(obs, esp, 2, got)
        assert otadata(esp)["running"] == "ota_1"


# Where the power goes out, and what the job must end as.
CUTS = [
    ("writeblocks:3", "succeeded"),  # downloading: resumes from the journal with a Range
    ("set_boot", "succeeded"),  # artifact written, before set_boot: re-checked, not re-downloaded
    ("set_boot:done", "succeeded"),  # set_boot done, before the reset: the new slot boots
    ("confirm", "rolled-back"),  # the new image's boot, unconfirmed: the bootloader rolls back
    ("confirm:done", "succeeded"),  # confirmed, before the job was recorded as done
]


@pytest.mark.parametrize(("point", "final"), CUTS, ids=[p for p, _ in CUTS])
async def test_power_cut_at_every_step_ends_on_a_valid_version_with_the_right_state(
    esp: Board,
    mosquitto_broker: MosquittoProcess,
    http: Files,
    fleet: Fleet,
    firmware: Firmware,
    point: str,
    final: str,
) -> None:
    v2 = firmware.images["2"]
    async with observing(mosquitto_broker.host, mosquitto_broker.port, esp.device) as obs:  # type: ignore[attr-defined]
        await start(esp, obs)
        esp.pause_at(point)
        body = offer(http, fleet, "j-cut", v2)
        await obs.publish(topics.OTA_OFFER, body, retain=True)
        await obs.wait_for(lambda: esp.paused == point, 120, f"the firmware at {point}")
        esp.cut_paused()
        got = await run_job(obs, body)
        states = [m.body["state"] for m in got]
        assert states[-1] == final, states
        assert states.count("offered") == 1, states  # the same job, never taken twice
        artifact_gets = [r for r in http.ranges if r != ""]
        if point == "writeblocks:3":
            assert artifact_gets == ["bytes=12288-"], http.ranges  # block 3 was not journaled yet
        if final == "succeeded":
            await ends_on(obs, esp, 2, got)
            assert otadata(esp)["running"] == "ota_1"
        else:
            assert "power_on" in got[-1].body["reason"], got[-1].body
            await ends_on(obs, esp, 1, got)
            assert otadata(esp)["state"] == {"ota_0": "valid", "ota_1": "aborted"}


async def test_an_update_commits_only_after_its_self_test_and_a_failing_one_rolls_back_by_itself(
    esp: Board, mosquitto_broker: MosquittoProcess, http: Files, fleet: Fleet, firmware: Firmware
) -> None:
    async with observing(mosquitto_broker.host, mosquitto_broker.port, esp.device) as obs:  # type: ignore[attr-defined]
        await start(esp, obs)
        got = await run_job(obs, offer(http, fleet, "j-good", firmware.images["2"]))
        assert [m.body["state"] for m in got] == [
            "offered",
            "downloading",
            "verifying",
            "installing",
            "rebooting",
            "confirming",
            "succeeded",
        ]
        # Committed only once telemetry of the new boot was acknowledged.
        new_boot = got[-1].boot
        assert any(t.boot == new_boot and t.ts <= got[-1].ts for t in obs.of(topics.TELEMETRY))
        await ends_on(obs, esp, 2, got)
        assert otadata(esp) == {
            "boot": "ota_1",
            "running": "ota_1",
            "state": {"ota_0": "valid", "ota_1": "valid"},
        }

        got = await run_job(obs, offer(http, fleet, "j-broken", firmware.images["3-broken"], version=3))
        states = [m.body["state"] for m in got]
        assert states[-2:] == ["confirming", "rolled-back"], states
        assert got[-1].body["reason"].startswith("self-test failed"), got[-1].body
        await ends_on(obs, esp, 2, got)
        assert otadata(esp)["state"] == {"ota_0": "aborted", "ota_1": "valid"}
        # v3 booted exactly once and never sent telemetry.
        v3_boots = {h.boot for h in obs.of(topics.HELLO) if h.body["fw"] == "3"}
        assert len(v3_boots) == 1
        assert not [t for t in obs.of(topics.TELEMETRY) if t.boot in v3_boots]


def _jobs(s: Session, deployment: int) -> list[Job]:
    return list(s.exec(select(Job).where(Job.deployment_id == deployment).order_by(Job.wave)).all())  # type: ignore[arg-type]


@pytest.mark.parametrize("cloud", ["mosquitto+postgresql"], indirect=True)
async def test_a_simulated_esp32_fleet_through_the_cloud_commits_and_halts_a_failing_wave(
    cloud: Cloud, live_api: Api, fleet: Fleet, firmware: Firmware, micropython: str, tmp_path: Path
) -> None:
    boards = []
    for i in range(4):
        (tmp_path / f"esp{i}").mkdir()
        b = make_board(
            tmp_path / f"esp{i}",
            firmware.factory,
            cloud.broker,  # type: ignore[arg-type]
            micropython,
            ota={"model": MODEL, "self_test_s": 30},
        )
        await Observer(cloud.host, cloud.port, b.device).publish(  # type: ignore[attr-defined]
            topics.CONFIG_DESIRED, {"version": 1, "config": FAST}, retain=True
        )
        boards.append(b)
    ids = [b.device for b in boards]  # type: ignore[attr-defined]
    try:
        for b in boards:
            b.start()
        await cloud.wait_for(
            lambda s: all((d := s.get(RegistryDevice, i)) and d.firmware_version == "1" for i in ids),
            within=60,
        )

        # A good release in two waves: every job commits (new boot, heartbeat and telemetry).
        good = await deploy(
            live_api, fleet, ids, 2, firmware.images["2"], hardware="esp32", model=MODEL, waves=(25, 100)
        )
        await cloud.wait_for(lambda s: s.get(Deployment, good).state == "completed", within=300)  # type: ignore[union-attr]
        with Session(cloud.engine) as s:
            jobs = _jobs(s, good)
            assert [j.state for j in jobs] == ["succeeded"] * 4, [(j.state, j.reason) for j in jobs]
            assert all((j.reason or "").startswith("committed: version 2") for j in jobs)
            assert all(s.get(RegistryDevice, i).firmware_version == "2" for i in ids)  # type: ignore[union-attr]

        # A release that fails its self-test: wave 1 (one device) rolls back by itself, the
        # deployment halts, and no device of the later wave is offered anything.
        bad = await deploy(
            live_api,
            fleet,
            ids,
            3,
            firmware.images["3-broken"],
            hardware="esp32",
            model=MODEL,
            waves=(25, 100),
        )
        await cloud.wait_for(lambda s: s.get(Deployment, bad).state == "halted", within=240)  # type: ignore[union-attr]
        with Session(cloud.engine) as s:
            first, *rest = _jobs(s, bad)
            assert first.state == "rolled-back", (first.state, first.reason)
            assert [(j.state, j.offer_state) for j in rest] == [("queued", "none")] * 3
        failed_board = boards[ids.index(first.device_id)]
        # Back on v2, online, and the withdrawn offer is not taken again.
        await cloud.wait_for(
            lambda s: (d := s.get(RegistryDevice, first.device_id)) and d.firmware_version == "2", within=60
        )
        await asyncio.sleep(5)
        with Session(cloud.engine) as s:
            job = s.get(Job, first.id)
            assert job.state == "rolled-back"  # type: ignore[union-attr]
            assert job.offer_state in ("withdraw", "withdrawn")  # type: ignore[union-attr]
        assert otadata(failed_board)["state"] == {"ota_0": "aborted", "ota_1": "valid"}
        for b in boards:
            if b is not failed_board:
                assert otadata(b) == {
                    "boot": "ota_1",
                    "running": "ota_1",
                    "state": {"ota_0": "valid", "ota_1": "valid"},
                }
    finally:
        for b in boards:
            b.stop()


async def test_a_refused_offer_is_reported_and_its_retained_offer_does_not_reset_the_board_again(
    esp: Board, mosquitto_broker: MosquittoProcess, http: Files, fleet: Fleet, firmware: Firmware
) -> None:
    """The app saves the offer and resets, update mode verifies and refuses, the app reports it and
    stays up: no reset loop on the retained offer."""
    async with observing(mosquitto_broker.host, mosquitto_broker.port, esp.device) as obs:  # type: ignore[attr-defined]
        await start(esp, obs)
        got = await run_job(obs, offer(http, fleet, "j-old", firmware.images["2"], version=1))
        assert [m.body["state"] for m in got] == ["offered", "failed"]
        assert got[-1].body["reason"].startswith("Rollback")
        await ends_on(obs, esp, 1, got)
        hellos = len(obs.of(topics.HELLO))
        await asyncio.sleep(5)  # the retained offer is back at every connect: it must stay ignored
        assert len(obs.of(topics.HELLO)) == hellos
        assert otadata(esp)["running"] == "ota_0"
