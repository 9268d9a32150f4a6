"""Mosquitto started from the config the cloud generates enforces device identity and topics.

What Mosquitto 2.0.11 does with a denied request, as observed here (and what the tests prove):

* A denied MQTT 3.1.1 PUBLISH is acknowledged and dropped, then the broker closes the connection ("Bad
  socket read/write" in its log). Refusal is proven by the victim's subscriber never receiving it,
  next to a control message that does arrive.
* A SUBSCRIBE outside the ACL is granted in the SUBACK (the ``acl_file`` check does not cover
  subscriptions in 2.0.11; the amqtt plugin does answer 0x80) but nothing is ever delivered on it:
  Mosquitto checks ``read`` access for every message it delivers. The tests prove the non-delivery.
"""

from __future__ import annotations

import time

import pytest

from cloud.identity.names import CLOUD
from protocol import topics
from tests.provisioning.fleet import Fleet
from tests.provisioning.mqttc import Client, Refused, TlsFiles

pytestmark = pytest.mark.mosquitto

QUIET = 1.0  # seconds to wait for a message that must not come (after a control one did)
LOCAL = "127.0.0.1"
# CONNACK "not authorized": 5 in MQTT 3.1.1; paho 2 reports it as its MQTT 5 reason code 135.
NOT_AUTHORIZED = {5, 135}


def forge(client_id: str, tls: TlsFiles, port: int, topic: str, payload: bytes) -> None:
    with Client(client_id, tls=tls).connect(LOCAL, port) as c:
        c.try_publish(topic, payload)


def test_device_cannot_publish_on_another_devices_topics(fleet: Fleet, secure_mosquitto) -> None:
    a, b, cloud = fleet.device("dev-a"), fleet.device("dev-b"), fleet.service()
    port = secure_mosquitto().config.tls.port

    with (
        Client(CLOUD, tls=cloud).connect(LOCAL, port) as ops,
        Client("dev-b", tls=b).connect(LOCAL, port) as dev_b,
    ):
        assert ops.subscribe("mob/+/+/telemetry") == 1
        assert dev_b.subscribe(topics.topic("dev-b", topics.CMD)) == 1

        # A publishes as B on B's uplink: dropped. A on its own uplink: delivered.
        forge("dev-a", a, port, topics.topic("dev-b", topics.TELEMETRY), b"forged")
        with Client("dev-a", tls=a).connect(LOCAL, port) as dev_a:
            dev_a.publish(topics.topic("dev-a", topics.TELEMETRY), b"own")
        assert ops.expect(5) == (topics.topic("dev-a", topics.TELEMETRY), b"own")
        assert ops.expect(QUIET) is None

        # A sends a command to B (a downlink channel: only the cloud may): B never gets it.
        forge("dev-a", a, port, topics.topic("dev-b", topics.CMD), b"forged cmd")
        ops.publish(topics.topic("dev-b", topics.CMD), b"real cmd")
        assert dev_b.expect(5) == (topics.topic("dev-b", topics.CMD), b"real cmd")
        assert dev_b.expect(QUIET) is None

        # A device may not publish on its own downlink either (a forged config/desired for itself).
        with Client("dev-a", tls=a).connect(LOCAL, port) as dev_a:
            assert dev_a.subscribe(topics.topic("dev-a", topics.CONFIG_DESIRED)) == 1
            dev_a.try_publish(topics.topic("dev-a", topics.CONFIG_DESIRED), b"self-config")
        with Client("dev-a", tls=a).connect(LOCAL, port) as dev_a:
            assert dev_a.subscribe(topics.topic("dev-a", topics.CONFIG_DESIRED)) == 1
            ops.publish(topics.topic("dev-a", topics.CONFIG_DESIRED), b"control")
            assert dev_a.expect(5) == (topics.topic("dev-a", topics.CONFIG_DESIRED), b"control")
            assert dev_a.expect(QUIET) is None


def test_device_receives_nothing_on_another_devices_topics(fleet: Fleet, secure_mosquitto) -> None:
    a, cloud = fleet.device("dev-a"), fleet.service()
    port = secure_mosquitto().config.tls.port
    with (
        Client(CLOUD, tls=cloud).connect(LOCAL, port) as ops,
        Client("dev-a", tls=a).connect(LOCAL, port) as dev_a,
    ):
        for f in ("mob/v1/dev-b/cmd", "mob/v1/+/cmd", "mob/#", topics.topic("dev-a", topics.TELEMETRY)):
            dev_a.subscribe(f)  # granted by 2.0.11's SUBACK, see the module docstring
        assert dev_a.subscribe(topics.topic("dev-a", topics.CMD)) == 1
        ops.publish(topics.topic("dev-b", topics.CMD), b"for b")
        with Client("dev-c", tls=fleet.device("dev-c")).connect(LOCAL, port) as dev_c:
            dev_c.publish(topics.topic("dev-c", topics.TELEMETRY), b"c's telemetry")
        dev_a.publish(topics.topic("dev-a", topics.TELEMETRY), b"a's own telemetry")
        ops.publish(topics.topic("dev-a", topics.CMD), b"for a")
        assert dev_a.expect(5) == (topics.topic("dev-a", topics.CMD), b"for a")
        assert dev_a.expect(QUIET) is None


def test_client_id_is_the_certificate_cn(fleet: Fleet, secure_mosquitto) -> None:
    """A connecting with B's client id gets A's identity, so it neither takes B's session nor its topics."""
    a, b, cloud = fleet.device("dev-a"), fleet.device("dev-b"), fleet.service()
    port = secure_mosquitto().config.tls.port
    with (
        Client(CLOUD, tls=cloud).connect(LOCAL, port) as ops,
        Client("dev-b", tls=b).connect(LOCAL, port) as dev_b,
    ):
        assert ops.subscribe("mob/+/+/hello") == 1
        with Client("dev-b", tls=a).connect(LOCAL, port) as impostor:
            impostor.publish(topics.topic("dev-a", topics.HELLO), b"as a")
            assert ops.expect(5) == (topics.topic("dev-a", topics.HELLO), b"as a")
            impostor.try_publish(topics.topic("dev-b", topics.HELLO), b"as b")
            assert ops.expect(QUIET) is None
        assert dev_b.connected  # its session was not taken over


def test_revoked_certificate_is_refused(fleet: Fleet, secure_mosquitto) -> None:
    a, b = fleet.device("dev-a"), fleet.device("dev-b")
    broker = secure_mosquitto()
    port = broker.config.tls.port
    Client("dev-a", tls=a).connect(LOCAL, port).close()

    fleet.revoke("dev-a")
    broker.reload()  # SIGHUP: Mosquitto 2.0 reloads the listeners' TLS settings, the CRL with them
    time.sleep(0.5)
    with pytest.raises(Refused):
        Client("dev-a", tls=a).connect(LOCAL, port)
    assert "certificate verify failed" in broker.log_path.read_text()
    Client("dev-b", tls=b).connect(LOCAL, port).close()  # the CRL names only A

    broker.restart()
    with pytest.raises(Refused):
        Client("dev-a", tls=a).connect(LOCAL, port)


def test_certificate_from_another_ca_or_none_is_refused(fleet: Fleet, secure_mosquitto, tmp_path) -> None:
    port = secure_mosquitto().config.tls.port
    rogue = Fleet(tmp_path / "rogue").device("dev-a")
    with pytest.raises(Refused):
        Client("dev-a", tls=TlsFiles(ca=fleet.broker.cafile, cert=rogue.cert, key=rogue.key)).connect(
            LOCAL, port
        )
    with pytest.raises(Refused):
        Client("dev-a", tls=TlsFiles(ca=fleet.broker.cafile)).connect(LOCAL, port)


def test_password_fallback_and_its_revocation(fleet: Fleet, secure_mosquitto) -> None:
    secret = fleet.password("dev-p")
    cloud = fleet.service()
    broker = secure_mosquitto()
    with (
        Client(CLOUD, tls=cloud).connect(LOCAL, broker.config.tls.port) as ops,
        Client("dev-p", username="dev-p", password=secret).connect(LOCAL, broker.port) as dev,
    ):
        assert dev.subscribe(topics.topic("dev-p", topics.CMD)) == 1
        dev.subscribe(topics.topic("dev-q", topics.CMD))
        ops.publish(topics.topic("dev-q", topics.CMD), b"for q")
        ops.publish(topics.topic("dev-p", topics.CMD), b"for p")
        assert dev.expect(5) == (topics.topic("dev-p", topics.CMD), b"for p")
        assert dev.expect(QUIET) is None
    with pytest.raises(Refused) as wrong:
        Client("dev-p", username="dev-p", password=secret + "x").connect(LOCAL, broker.port)
    assert wrong.value.code in NOT_AUTHORIZED
    with pytest.raises(Refused) as anonymous:
        Client("anon").connect(LOCAL, broker.port)
    assert anonymous.value.code in NOT_AUTHORIZED

    fleet.revoke("dev-p")
    broker.reload()  # SIGHUP re-reads password_file
    time.sleep(0.5)
    with pytest.raises(Refused) as revoked:
        Client("dev-p", username="dev-p", password=secret).connect(LOCAL, broker.port)
    assert revoked.value.code in NOT_AUTHORIZED
