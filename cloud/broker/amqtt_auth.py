"""Device identity and topic authorization for the embedded amqtt broker (amqtt 0.12 plugin API).

Two plugins, configured in the broker's ``plugins`` section (see ``secure_plugins``):

* ``DeviceAuthPlugin`` (authentication). A client is let in when
  - it presented a certificate on a TLS listener that chains to the fleet CA (the listener's ssl
    context verifies the chain; the plugin checks it again), is not revoked by the CRL, and whose CN
    equals the client id it connects with: the CN becomes the session's username; or
  - (password fallback, when ``password_file`` is set) its username equals its client id and its
    password verifies against the ``$7$`` hash in the password file (the same file Mosquitto reads).
  Anything else is refused with CONNACK "not authorized". Mosquitto makes the client id the username
  (``use_username_as_clientid``); amqtt cannot rewrite it, so it refuses a mismatch instead.
* ``DeviceTopicPlugin`` (topic checking): cloud/broker/acl.py's rule for publish, subscribe (refused
  subscriptions get SUBACK 0x80) and receive.

The CRL and the password file are re-read when their modification time changes, so a revocation is in
force for the next connection without restarting the broker. A client already connected when its
certificate is revoked stays connected until it disconnects: amqtt's plugin API has no way to close a
session (Mosquitto has the same limit without its dynamic-security plugin; the cloud restarts or
reloads the broker when it revokes, see cloud/identity).

Known limit of amqtt 0.12 (not of these plugins; read in its broker.py `_handle_client_session`, not
reproduced by a test here): it takes over an existing session with the same
client id before it looks at the authentication result, so a refused client that uses a connected
device's id disconnects that device (it does not get its messages). The embedded broker is the
single-process demo; fleets run Mosquitto.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from amqtt.contexts import Action, BaseContext
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session
from cryptography import x509

from cloud.broker.acl import Access, allowed
from cloud.broker.files import BrokerFiles
from cloud.identity.ca import common_name
from cloud.identity.credentials import verify_password
from cloud.identity.exceptions import CertificateError

_ACTIONS = {
    Action.PUBLISH: Access.PUBLISH,
    Action.SUBSCRIBE: Access.SUBSCRIBE,
    Action.RECEIVE: Access.RECEIVE,
}


class _Reloading:
    """A file parsed again whenever its mtime changes (missing file: ``empty``)."""

    def __init__(self, path: Path | None, parse, empty) -> None:  # type: ignore[no-untyped-def]
        self.path = path
        self._parse = parse
        self._empty = empty
        self._mtime: int | None = None
        self._value = empty

    def get(self):  # type: ignore[no-untyped-def]
        if self.path is None:
            return self._empty
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return self._empty
        if mtime != self._mtime:
            self._value = self._parse(self.path.read_bytes())
            self._mtime = mtime
        return self._value


def _parse_crl(data: bytes) -> frozenset[int]:
    crl = x509.load_pem_x509_crl(data)
    return frozenset(r.serial_number for r in crl)


def _parse_passwords(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in data.decode().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            name, _, digest = line.partition(":")
            out[name] = digest
    return out


class DeviceAuthPlugin(BaseAuthPlugin):
    @dataclass
    class Config:
        cafile: str | None = None
        crlfile: str | None = None
        password_file: str | None = None

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._ca: x509.Certificate | None = None
        if self.config.cafile:
            self._ca = x509.load_pem_x509_certificate(Path(self.config.cafile).read_bytes())
        self._revoked = _Reloading(
            Path(self.config.crlfile) if self.config.crlfile else None, _parse_crl, frozenset()
        )
        self._passwords = _Reloading(
            Path(self.config.password_file) if self.config.password_file else None, _parse_passwords, {}
        )

    async def authenticate(self, *, session: Session) -> bool | None:
        client_id = session.client_id
        der = session.ssl_object.getpeercert(binary_form=True) if session.ssl_object else None
        if der:
            return self._by_certificate(session, x509.load_der_x509_certificate(der))
        if self.config.password_file and session.username:
            stored = self._passwords.get().get(session.username)
            ok = (
                stored is not None
                and session.username == client_id
                and verify_password(session.password or "", stored)
            )
            if not ok:
                self.context.logger.warning("refused %s: bad username/password", client_id)
            return ok
        self.context.logger.warning("refused %s: no client certificate and no password", client_id)
        return False

    def _by_certificate(self, session: Session, cert: x509.Certificate) -> bool:
        if self._ca is None:
            return False
        try:
            cert.verify_directly_issued_by(self._ca)
            cn = common_name(cert)
        except (ValueError, TypeError, CertificateError) as e:
            self.context.logger.warning(
                "refused %s: certificate not from the fleet CA (%s)", session.client_id, e
            )
            return False
        except Exception:  # InvalidSignature
            self.context.logger.warning(
                "refused %s: certificate signature does not verify", session.client_id
            )
            return False
        if cert.serial_number in self._revoked.get():
            self.context.logger.warning("refused %s: certificate %x is revoked", cn, cert.serial_number)
            return False
        if cn != session.client_id:
            self.context.logger.warning("refused %s: certificate is for %s", session.client_id, cn)
            return False
        session.username = cn
        return True


class DeviceTopicPlugin(BaseTopicPlugin):
    @dataclass
    class Config:
        pass

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Action | None = None
    ) -> bool:
        if session is None or topic is None or action is None:
            return False
        ok = allowed(session.username, topic, _ACTIONS[action])
        if not ok and action is not Action.RECEIVE:
            self.context.logger.warning("refused %s %s on %s", session.username, action.value, topic)
        return ok


def secure_plugins(
    *, cafile: Path | None, crlfile: Path | None, password_file: Path | None
) -> dict[str, object]:
    """The ``plugins`` section of an amqtt config that enforces device identity and topics."""
    return {
        f"{__name__}.DeviceAuthPlugin": {
            "cafile": str(cafile) if cafile else None,
            "crlfile": str(crlfile) if crlfile else None,
            "password_file": str(password_file) if password_file else None,
        },
        f"{__name__}.DeviceTopicPlugin": {},
    }


def secure_broker_config(
    *,
    host: str,
    tls_port: int,
    files: BrokerFiles,
    password_port: int | None = None,
) -> dict[str, object]:
    """A whole amqtt config: a TLS listener verifying client certificates against the fleet CA and, when
    ``password_port`` is given, a plain listener for the password fallback (loopback/VPN only)."""
    tls = {
        "type": "tcp",
        "bind": f"{host}:{tls_port}",
        "ssl": True,
        "cafile": str(files.cafile),
        "certfile": str(files.certfile),
        "keyfile": str(files.keyfile),
    }
    # amqtt fills every listener's unset (default-valued) fields from "default", so "default" must be
    # the plain one: a plain listener named otherwise would inherit the TLS settings.
    listeners: dict[str, object] = {"default": tls}
    if password_port is not None:
        listeners = {"default": {"type": "tcp", "bind": f"{host}:{password_port}"}, "tls": tls}
    return {
        "listeners": listeners,
        "plugins": secure_plugins(
            cafile=files.cafile,
            crlfile=files.crlfile,
            password_file=files.password_file if password_port is not None else None,
        ),
    }
