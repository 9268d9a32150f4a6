"""The embedded amqtt broker with our plugins enforces device identity and topics.

amqtt answers a refused SUBSCRIBE with SUBACK 0x80 and drops a refused PUBLISH (the connection stays).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from cloud.broker.amqtt_auth import secure_broker_config
from cloud.broker.ports import free_port
from cloud.identity.names import CLOUD
from protocol import topics
from tests.provisioning.fleet import Fleet
from tests.provisioning.mqttc import Client, Refused, TlsFiles
from tests.services import AmqttThread

QUIET = 1.0
LOCAL = "127.0.0.1"
NOT_AUTHORIZED = {5, 135}


@pytest.fixture
def secure_amqtt(fleet: Fleet) -> Iterator[Callable[[], AmqttThread]]:
    started: list[AmqttThread] = []

    def start() -> AmqttThread:
        files = fleet.write_broker_files()
        port, password_port = free_port(), free_port()
        broker = AmqttThread(
            LOCAL,
            port,
            config=secure_broker_config(host=LOCAL, tls_port=port, files=files, password_port=password_port),
        )
        broker.password_port = password_port  # type: ignore[attr-defined]
        broker.start()
        started.append(broker)
        return broker

    yield start
    for b in started:
        b.stop()


def test_device_cannot_publish_or_subscribe_on_another_devices_topics(fleet: Fleet, secure_amqtt) -> None:
    a, b, cloud = fleet.device("dev-a"), fleet.device("dev-b"), fleet.service()
    port = secure_amqtt().port
    with (
        Client(CLOUD, tls=cloud).connect(LOCAL, port) as ops,
        Client("dev-a", tls=a).connect(LOCAL, port) as dev_a,
        Client("dev-b", tls=b).connect(LOCAL, port) as dev_b,
    ):
        assert ops.subscribe("mob/+/+/telemetry") == 1
        assert dev_b.subscribe(topics.topic("dev-b", topics.CMD)) == 1

        dev_a.publish(topics.topic("dev-b", topics.TELEMETRY), b"forged")
        dev_a.publish(topics.topic("dev-a", topics.TELEMETRY), b"own")
        assert ops.expect(5) == (topics.topic("dev-a", topics.TELEMETRY), b"own")
        assert ops.expect(QUIET) is None

        dev_a.publish(topics.topic("dev-b", topics.CMD), b"forged cmd")
        ops.publish(topics.topic("dev-b", topics.CMD), b"real cmd")
        assert dev_b.expect(5) == (topics.topic("dev-b", topics.CMD), b"real cmd")
        assert dev_b.expect(QUIET) is None

        assert dev_a.subscribe(topics.topic("dev-b", topics.CMD)) == 0x80
        assert dev_a.subscribe("mob/v1/+/cmd") == 0x80
        assert dev_a.subscribe("mob/#") == 0x80
        assert dev_a.subscribe(topics.topic("dev-a", topics.TELEMETRY)) == 0x80
        assert dev_a.subscribe(topics.topic("dev-a", topics.CMD)) == 1


def test_client_id_must_be_the_certificate_cn(fleet: Fleet, secure_amqtt) -> None:
    a = fleet.device("dev-a")
    port = secure_amqtt().port
    with pytest.raises(Refused) as refused:
        Client("dev-b", tls=a).connect(LOCAL, port)
    assert refused.value.code in NOT_AUTHORIZED


def test_revoked_certificate_is_refused_without_restart(fleet: Fleet, secure_amqtt) -> None:
    a, b = fleet.device("dev-a"), fleet.device("dev-b")
    port = secure_amqtt().port
    Client("dev-a", tls=a).connect(LOCAL, port).close()
    fleet.revoke("dev-a")  # rewrites crl.pem; the plugin sees the new mtime
    with pytest.raises(Refused) as refused:
        Client("dev-a", tls=a).connect(LOCAL, port)
    assert refused.value.code in NOT_AUTHORIZED
    Client("dev-b", tls=b).connect(LOCAL, port).close()


def test_no_certificate_or_foreign_ca_is_refused(fleet: Fleet, secure_amqtt, tmp_path) -> None:
    port = secure_amqtt().port
    with pytest.raises(Refused):
        Client("dev-a", tls=TlsFiles(ca=fleet.broker.cafile)).connect(LOCAL, port)
    rogue = Fleet(tmp_path / "rogue").device("dev-a")
    with pytest.raises(Refused):
        Client("dev-a", tls=TlsFiles(ca=fleet.broker.cafile, cert=rogue.cert, key=rogue.key)).connect(
            LOCAL, port
        )


def test_password_fallback_and_its_revocation(fleet: Fleet, secure_amqtt) -> None:
    secret = fleet.password("dev-p")
    broker = secure_amqtt()
    pport = broker.password_port
    with Client("dev-p", username="dev-p", password=secret).connect(LOCAL, pport) as dev:
        assert dev.subscribe(topics.topic("dev-p", topics.CMD)) == 1
        assert dev.subscribe(topics.topic("dev-q", topics.CMD)) == 0x80
    for client_id, user, pw in [
        ("dev-p", "dev-p", secret + "x"),
        ("dev-q", "dev-p", secret),
        ("anon", None, None),
    ]:
        with pytest.raises(Refused) as refused:
            Client(client_id, username=user, password=pw).connect(LOCAL, pport)
        assert refused.value.code in NOT_AUTHORIZED
    fleet.revoke("dev-p")
    with pytest.raises(Refused):
        Client("dev-p", username="dev-p", password=secret).connect(LOCAL, pport)
