"""Enrollment through the real API (SQLite, migrated): ops mint, a technician claims, tokens are
single-use and expire, refusals carry a reason and are audited, quarantine revokes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from cloud.api.app import create_app
from cloud.auth.models import Scope
from cloud.auth.service import create_token
from cloud.broker.files import BrokerFiles
from cloud.broker.ports import free_port
from cloud.core.db import make_engine, migrate
from cloud.core.types import utcnow
from cloud.identity import service
from cloud.identity.ca import FleetCA
from cloud.identity.credentials import DeviceKey, verify_password
from cloud.identity.models import EnrollmentCreate, EnrollmentEvent
from cloud.registry.models import Device
from provisioning.cli import app as cli

BROKER = {"host": "127.0.0.1", "port": 8883, "tls": True}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'cloud.sqlite3'}")
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def identity(tmp_path: Path) -> service.Identity:
    ca = FleetCA.create()
    files = BrokerFiles(tmp_path / "broker").write(ca, hosts=["127.0.0.1"])
    return service.Identity(ca=ca, broker=BROKER, files=files)


@pytest.fixture
def ops_token(engine: Engine) -> str:
    with Session(engine) as s:
        _, token = create_token(s, name="ops-alice", scope=Scope.WRITE, now=utcnow())
        s.commit()
    return token


@pytest.fixture
def api(engine: Engine, identity: service.Identity) -> TestClient:
    return TestClient(create_app(engine, identity=identity))


def mint(api: TestClient, ops_token: str, **body: object) -> str:
    r = api.post(
        "/enrollments", json={"tenant": "acme", **body}, headers={"Authorization": f"Bearer {ops_token}"}
    )
    assert r.status_code == 201, r.text
    return r.json()["token"]


def claim(api: TestClient, token: str, device_id: str, hardware: str = "esp32", key: DeviceKey | None = None):
    key = key or DeviceKey.generate(device_id)
    body = {"token": token, "device_id": device_id, "hardware": hardware, "csr": key.csr_pem.decode()}
    return api.post("/devices/register", json=body), key


def events(engine: Engine) -> list[tuple[str, str | None]]:
    with Session(engine) as s:
        return [(e.event, e.reason) for e in s.exec(select(EnrollmentEvent).order_by(EnrollmentEvent.id))]


def test_mint_needs_an_ops_write_token(api: TestClient) -> None:
    assert api.post("/enrollments", json={"tenant": "acme"}).status_code == 401


def test_claim_issues_a_certificate_for_the_device_and_a_hashed_password(
    api: TestClient, ops_token: str, engine: Engine, identity: service.Identity
) -> None:
    token = mint(api, ops_token, hardware="esp32")
    r, key = claim(api, token, "bb-0042")
    assert r.status_code == 201, r.text
    doc = r.json()
    cert = x509.load_pem_x509_certificate(doc["certificate"].encode())
    identity.ca.verify(cert)
    assert key.matches(cert)
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "bb-0042"
    assert doc["broker"] == BROKER
    assert doc["username"] == "bb-0042"
    # The password is stored only hashed, in the database and in the broker's password file.
    stored = dict(line.split(":", 1) for line in identity.files.password_file.read_text().splitlines())
    assert doc["password"] not in identity.files.password_file.read_text()
    assert verify_password(doc["password"], stored["bb-0042"])
    with Session(engine) as s:
        device = s.get(Device, "bb-0042")
        assert (device.state, device.tenant, device.hardware) == ("active", "acme", "esp32")
    assert [e for e, _ in events(engine)] == ["minted", "claimed"]


def test_reused_expired_unknown_and_mismatched_tokens_are_refused_with_a_reason(
    api: TestClient, ops_token: str, engine: Engine
) -> None:
    token = mint(api, ops_token, hardware="esp32")
    assert claim(api, token, "bb-0001")[0].status_code == 201
    again, _ = claim(api, token, "bb-0002")
    assert again.status_code == 403
    assert again.json()["detail"]["reason"] == "used"
    assert "bb-0001" in again.json()["detail"]["message"]

    with Session(engine) as s:
        old = service.mint(
            s,
            data=EnrollmentCreate(tenant="acme", ttl_s=3600),
            actor="ops-alice",
            now=utcnow() - timedelta(hours=2),
        )
    expired, _ = claim(api, old.token, "bb-0003")
    assert expired.status_code == 403
    assert expired.json()["detail"]["reason"] == "expired"

    assert claim(api, "enr_nonsense", "bb-0004")[0].json()["detail"]["reason"] == "unknown"
    rpi_only = mint(api, ops_token, hardware="rpi")
    assert claim(api, rpi_only, "bb-0005", hardware="esp32")[0].json()["detail"]["reason"] == "mismatch"
    assert claim(api, rpi_only, "pi-0005", hardware="rpi")[0].status_code == 201  # the refusal did not use it

    refused = [reason for e, reason in events(engine) if e == "refused"]
    assert [r.split(":")[0] for r in refused] == ["used", "expired", "unknown", "mismatch"]


def test_csr_for_another_device_or_a_service_name_is_refused(api: TestClient, ops_token: str) -> None:
    r, _ = claim(api, mint(api, ops_token), "bb-0042", key=DeviceKey.generate("bb-0043"))
    assert r.status_code == 422
    assert "CN='bb-0043'" in r.json()["detail"]["message"]
    r, _ = claim(api, mint(api, ops_token), "mobilytics.cloud")
    assert r.status_code in (403, 422)


def test_quarantine_revokes_and_rotation_replaces(
    api: TestClient, ops_token: str, engine: Engine, identity: service.Identity
) -> None:
    r, _ = claim(api, mint(api, ops_token), "bb-0042")
    serial = x509.load_pem_x509_certificate(r.json()["certificate"].encode()).serial_number
    auth = {"Authorization": f"Bearer {ops_token}"}

    rotated = api.post(
        "/devices/bb-0042/credentials/rotate",
        json={"csr": DeviceKey.generate("bb-0042").csr_pem.decode()},
        headers=auth,
    )
    assert rotated.status_code == 200, rotated.text
    new_serial = x509.load_pem_x509_certificate(rotated.json()["certificate"].encode()).serial_number
    crl = x509.load_pem_x509_crl(identity.files.crlfile.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    assert crl.get_revoked_certificate_by_serial_number(new_serial) is None

    assert api.patch("/devices/bb-0042", json={"state": "quarantined"}, headers=auth).status_code == 200
    crl = x509.load_pem_x509_crl(identity.files.crlfile.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(new_serial) is not None
    assert "bb-0042:" not in identity.files.password_file.read_text()
    assert ("revoked", "quarantined") in events(engine)


class Server:
    """The API under uvicorn on a free loopback port, in a thread (the CLI makes its own HTTP client)."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def test_cli_register_and_check(
    engine: Engine, identity: service.Identity, ops_token: str, tmp_path: Path
) -> None:
    app = create_app(engine, identity=identity)
    work = str(tmp_path / "work")
    runner = CliRunner()
    with Server(app) as url:
        token = mint(TestClient(app), ops_token, hardware="esp32")
        args = ["--workdir", work, "--json", "register", "-d", "bb-0042", "--api", url, "--token", token]
        first = runner.invoke(cli, args)
        assert first.exit_code == 0, first.stdout
        assert json.loads(first.stdout)["broker"] == BROKER
        assert (tmp_path / "work" / "bb-0042" / "device.crt").exists()
        assert json.loads(runner.invoke(cli, args).stdout)["skipped"] is True  # safe to repeat

        reused = runner.invoke(
            cli, ["--workdir", work, "--json", "register", "-d", "bb-0043", "--api", url, "--token", token]
        )
        assert reused.exit_code == 1
        out = json.loads(reused.stdout)
        assert out["type"] == "EnrollmentRefused"
        assert "(used)" in out["error"]

        check = ["--workdir", work, "--json", "check", "-d", "bb-0042", "--api", url, "--timeout", "1"]
        waiting = runner.invoke(cli, check)
        assert waiting.exit_code == 1
        assert "no heartbeat from bb-0042" in json.loads(waiting.stdout)["error"]
        with Session(engine) as s:  # what the bridge records for a heartbeat (tests/cloud cover the bridge)
            d = s.get(Device, "bb-0042")
            d.heartbeats, d.last_heartbeat_at, d.status = 1, utcnow(), "online"
            s.add(d)
            s.commit()
        ok = runner.invoke(cli, check)
        assert ok.exit_code == 0, ok.stdout
        assert json.loads(ok.stdout)["status"] == "online"
