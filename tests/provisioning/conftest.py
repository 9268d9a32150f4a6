from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloud.broker.ports import free_port
from tests.provisioning.fleet import Fleet
from tests.services import MosquittoProcess, find_executable, unavailable


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return Fleet(tmp_path / "fleet")


def mosquitto_executable() -> str:
    exe = find_executable("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if exe is None:
        unavailable("needs the mosquitto executable: apt-get install mosquitto (or run scripts/test)")
    return exe  # type: ignore[return-value]


@pytest.fixture
def secure_mosquitto(tmp_path: Path, fleet: Fleet) -> Iterator[Callable[[], MosquittoProcess]]:
    """Starts Mosquitto from our generated config once the test has made its credentials: TLS with
    client certificates and CRL, password file, ACL; the plain listener (loopback) serves the password
    fallback; anonymous is off."""
    started: list[MosquittoProcess] = []

    def start() -> MosquittoProcess:
        files = fleet.write_broker_files()
        broker = MosquittoProcess(
            workdir=tmp_path / "mosquitto",
            executable=mosquitto_executable(),
            options={
                "tls": files.tls_listener(port=free_port(), host="127.0.0.1"),
                "password_file": files.password_file,
                "acl_file": files.acl_file,
                "allow_anonymous": False,
            },
        )
        broker.workdir.mkdir()
        broker.start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()
