"""`mobilytics identity init` and `broker-config --tls`: the files a real deployment starts from, and the
bridge connecting with the cloud's certificate to a Mosquitto that requires one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cloud.bridge.service import Bridge, BridgeConfig
from cloud.broker.ports import free_port
from cloud.cli import app
from cloud.core.config import Settings
from cloud.core.db import make_engine, migrate
from cloud.identity.directory import IdentityDir
from tests.provisioning.conftest import mosquitto_executable
from tests.services import MosquittoProcess

runner = CliRunner()


def test_identity_init_is_repeatable_and_broker_config_points_at_it(tmp_path: Path) -> None:
    d = tmp_path / "identity"
    r = runner.invoke(app, ["identity", "init", str(d), "--broker-host", "127.0.0.1"])
    assert r.exit_code == 0, r.output
    ident = IdentityDir(d)
    ca = ident.ca_file.read_bytes()
    assert (ident.ca_dir / "ca.key").stat().st_mode & 0o777 == 0o600
    assert ident.cloud_cert.exists()
    assert ident.broker.crlfile.exists()
    assert runner.invoke(app, ["identity", "init", str(d)]).exit_code == 0
    assert ident.ca_file.read_bytes() == ca  # the CA is kept: issued device certificates stay valid

    r = runner.invoke(app, ["broker-config", "--tls", str(d), "--tls-port", "8884", "--data-dir", "/x"])
    assert r.exit_code == 0, r.output
    conf = r.output
    for line in (
        "listener 8884 0.0.0.0",
        f"cafile {ident.broker.cafile}",
        f"crlfile {ident.broker.crlfile}",
        "require_certificate true",
        "use_identity_as_username true",
        "allow_anonymous false",
        f"acl_file {ident.broker.acl_file}",
        f"password_file {ident.broker.password_file}",
    ):
        assert line in conf.splitlines()
    missing = runner.invoke(app, ["broker-config", "--tls", str(tmp_path / "none")])
    assert missing.exit_code == 2


@pytest.mark.mosquitto
async def test_bridge_connects_with_the_cloud_certificate(tmp_path: Path) -> None:
    ident = IdentityDir(tmp_path / "identity").init(hosts=["127.0.0.1"])
    files = ident.broker
    tls_port = free_port()
    broker = MosquittoProcess(
        workdir=tmp_path / "mosquitto",
        executable=mosquitto_executable(),
        options={
            "tls": files.tls_listener(port=tls_port, host="127.0.0.1"),
            "password_file": files.password_file,
            "acl_file": files.acl_file,
            "allow_anonymous": False,
        },
    )
    broker.workdir.mkdir()
    broker.start()
    engine = make_engine(f"sqlite:///{tmp_path / 'cloud.sqlite3'}")
    migrate(engine)
    try:
        settings = Settings(
            broker=f"mqtts://127.0.0.1:{tls_port}", identity_dir=str(ident.root), db="sqlite:///x"
        )
        config = BridgeConfig.from_settings(settings)
        assert config.tls is not None
        assert config.tls.cert == ident.cloud_cert
        bridge = Bridge(engine, config)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(bridge.run(), name="test.bridge")
            async with asyncio.timeout(15):
                await bridge.ready.wait()
            bridge.stop()
            await task
        assert "mobilytics.cloud" in broker.log_path.read_text()  # the CN became its username
    finally:
        broker.stop()
        engine.dispose()
