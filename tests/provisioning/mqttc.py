"""A real MQTT 3.1.1 client for the authorization tests (paho-mqtt 2, MQTT 3.1.1, optional TLS).

Blocking and small on purpose: each call waits for the broker's answer (CONNACK, SUBACK, PUBACK) and
returns what the broker said, so a test can assert on protocol facts (return codes), not on logs.
"""

from __future__ import annotations

import queue
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path | None = None
    key: Path | None = None


class Refused(Exception):
    """The broker refused the connection: CONNACK code, or the TLS handshake/socket failed."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class Client:
    def __init__(
        self,
        client_id: str,
        *,
        tls: TlsFiles | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.client_id = client_id
        self._c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
        if tls is not None:
            self._c.tls_set(
                ca_certs=str(tls.ca),
                certfile=str(tls.cert) if tls.cert else None,
                keyfile=str(tls.key) if tls.key else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        if username is not None:
            self._c.username_pw_set(username, password)
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._connack: queue.Queue[int] = queue.Queue()
        self._suback: dict[int, list[int]] = {}
        self._cond = threading.Condition()
        self._c.on_connect = self._on_connect
        self._c.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload))
        self._c.on_subscribe = self._on_subscribe

    def _on_connect(self, _c, _u, _flags, rc, _props) -> None:  # type: ignore[no-untyped-def]
        self._connack.put(rc.value if hasattr(rc, "value") else int(rc))

    def _on_subscribe(self, _c, _u, mid, rcs, _props) -> None:  # type: ignore[no-untyped-def]
        with self._cond:
            self._suback[mid] = [r.value if hasattr(r, "value") else int(r) for r in rcs]
            self._cond.notify_all()

    def connect(self, host: str, port: int, timeout: float = 10) -> Client:
        try:
            self._c.connect(host, port, keepalive=30)
        except (OSError, ssl.SSLError) as e:
            raise Refused(f"connection failed: {e!r}") from e
        self._c.loop_start()
        try:
            code = self._connack.get(timeout=timeout)
        except queue.Empty:
            self._c.loop_stop()
            raise Refused("no CONNACK (connection closed by the broker)") from None
        if code != 0:
            self._c.loop_stop()
            raise Refused(f"CONNACK return code {code}", code)
        return self

    def subscribe(self, topic: str, qos: int = 1, timeout: float = 10) -> int:
        """The SUBACK return code: the granted QoS, or 0x80 (128) when refused."""
        _rc, mid = self._c.subscribe(topic, qos)
        with self._cond:
            if not self._cond.wait_for(lambda: mid in self._suback, timeout):
                raise TimeoutError(f"no SUBACK for {topic}")
            return self._suback.pop(mid)[0]

    def publish(self, topic: str, payload: bytes, qos: int = 1, timeout: float = 10) -> None:
        info = self._c.publish(topic, payload, qos)
        info.wait_for_publish(timeout)

    def try_publish(self, topic: str, payload: bytes, qos: int = 1, timeout: float = 5) -> bool:
        """Publish without caring whether the broker then drops the connection (Mosquitto 2.0.11 closes
        it after acknowledging a denied QoS 1 PUBLISH); whether it was acknowledged."""
        info = self._c.publish(topic, payload, qos)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    def expect(self, timeout: float) -> tuple[str, bytes] | None:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return None

    @property
    def connected(self) -> bool:
        return self._c.is_connected()

    def close(self) -> None:
        self._c.disconnect()
        self._c.loop_stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
